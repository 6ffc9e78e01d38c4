package bridge

// Texts are what users see in Reply-Message. They are written for people
// at a VPN or SSH prompt: short, and saying what to do.
type Texts struct {
	MenuHeader     string // before the numbered list of mechanisms
	MenuFooter     string // after it
	BadChoice      string // the input matched no choice
	Approve        string // push or call in prompt mode
	Number         string // push number matching; %s is the number
	NotYet         string // pressed Enter before approving
	ApproveTimeout string // push or call not approved within push_wait
	CodeHint       string // after an out-of-band code prompt
	Accepted       string
	Failed         string // generic rejection
	Unavailable    string // the identity provider failed
	Expired        string // unknown, expired or reused State
	NotPAP         string // CHAP, MS-CHAP, EAP
	TooManyRounds  string
	Busy           string
	BadInput       string // an answer the login could not use
	LockedOut      string // too many failed logins
}

// DefaultTexts are the English texts.
var DefaultTexts = Texts{
	MenuHeader:     "Choose how to sign in:",
	MenuFooter:     "Enter a number:",
	BadChoice:      "That is not one of the choices.",
	Approve:        "Approve the sign-in request on your phone, then press Enter.",
	Number:         "Pick %s in the app.",
	NotYet:         "Not approved yet.",
	ApproveTimeout: "The sign-in request was not approved in time.",
	CodeHint:       "Enter the code:",
	Accepted:       "Access granted.",
	Failed:         "Authentication failed.",
	Unavailable:    "The sign-in service is not available. Try again later.",
	Expired:        "This sign-in has expired. Start again.",
	NotPAP:         "This server accepts PAP only. Configure the device to send the password with PAP.",
	TooManyRounds:  "Too many attempts.",
	Busy:           "The sign-in service is busy. Try again.",
	BadInput:       "That answer cannot be used here.",
	LockedOut:      "Too many failed attempts. Try again later.",
}

package config

import "reflect"

// Texts are what users see in Reply-Message, set in the [texts] table to
// translate or reword them. They are written for people at a VPN or SSH
// prompt: short, and saying what to do.
type Texts struct {
	MenuHeader     string `toml:"menu_header"`     // before the numbered list of mechanisms
	MenuFooter     string `toml:"menu_footer"`     // after it
	BadChoice      string `toml:"bad_choice"`      // the input matched no choice
	Approve        string `toml:"approve"`         // push or call in prompt mode
	Number         string `toml:"number"`          // push number matching; %s is the number
	NotYet         string `toml:"not_yet"`         // pressed Enter before approving
	ApproveTimeout string `toml:"approve_timeout"` // push or call not approved within push_wait
	CodeHint       string `toml:"code_hint"`       // prompt for a code when the provider has none
	Accepted       string `toml:"accepted"`        // Access-Accept
	Failed         string `toml:"failed"`          // generic rejection
	Unavailable    string `toml:"unavailable"`     // the identity provider failed
	Expired        string `toml:"expired"`         // unknown, expired or reused State
	NotPAP         string `toml:"not_pap"`         // CHAP, MS-CHAP, EAP
	TooManyRounds  string `toml:"too_many_rounds"` // the conversation went on too long
	Busy           string `toml:"busy"`            // the session store is full
	BadInput       string `toml:"bad_input"`       // an answer the login could not use
	LockedOut      string `toml:"locked_out"`      // too many failed logins
	Federated      string `toml:"federated"`       // the account signs in through an external IdP
	NoMechanism    string `toml:"no_mechanism"`    // nothing usable over RADIUS is enrolled
	RetryLater     string `toml:"retry_later"`     // the tenant asked to wait
	Misconfigured  string `toml:"misconfigured"`   // the provider's setup is unsafe
	NotAllowed     string `toml:"not_allowed"`     // not in an allowed role
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
	Federated:      "Your account signs in through an external identity provider, which cannot be used here.",
	NoMechanism:    "No sign-in method that works here is set up for your account.",
	RetryLater:     "Too many attempts. Try again in a minute.",
	Misconfigured:  "Sign-in is not configured correctly. Contact your administrator.",
	NotAllowed:     "You are not allowed to use this service.",
}

// fill sets every empty text to its default.
func (t *Texts) fill() {
	dst := reflect.ValueOf(t).Elem()
	def := reflect.ValueOf(DefaultTexts)
	for i := 0; i < dst.NumField(); i++ {
		if dst.Field(i).String() == "" {
			dst.Field(i).SetString(def.Field(i).String())
		}
	}
}

package cyberark

import (
	"encoding/json"
	"strings"
)

// decodeAnswer decodes a login answer. (An earlier build decoded with the
// experimental json/v2 module for about 8 µs less per answer; without a
// target that needs it, the daemon keeps to the standard library.)
func decodeAnswer(data []byte, v any) error {
	return json.Unmarshal(data, v)
}

// envelope is the response wrapper of every CyberArk Identity API call. The
// JSON key "success" is lower case; every other key is PascalCase.
type envelope struct {
	Success         bool            `json:"success"`
	Result          json.RawMessage `json:"Result"`
	Message         *string         `json:"Message"`
	MessageID       *string         `json:"MessageID"`
	Exception       *string         `json:"Exception"`
	ErrorID         *string         `json:"ErrorID"`
	ErrorCode       *string         `json:"ErrorCode"`
	IsSoftError     bool            `json:"IsSoftError"`
	InnerExceptions json.RawMessage `json:"InnerExceptions"`
}

// The Summary values of StartAuthentication and AdvanceAuthentication.
const (
	summaryNewPackage         = "NewPackage"
	summaryStartNextChallenge = "StartNextChallenge"
	summaryOobPending         = "OobPending"
	summaryLoginSuccess       = "LoginSuccess"
)

// The AnswerType values of a mechanism.
const (
	answerText         = "Text"
	answerStartTextOob = "StartTextOob"
	answerStartOob     = "StartOob"
)

// The Action values of AdvanceAuthentication.
const (
	actionAnswer   = "Answer"
	actionStartOOB = "StartOOB"
	actionPoll     = "Poll"
)

// result is the union of the Result objects of StartAuthentication,
// OnDemandChallenge and AdvanceAuthentication.
type result struct {
	Summary          string      `json:"Summary"`
	SessionID        string      `json:"SessionId"`
	TenantID         string      `json:"TenantId"`
	Version          string      `json:"Version"`
	Challenges       []challenge `json:"Challenges"`
	RetryWaitingTime int         `json:"RetryWaitingTime"`
	EventDescription *string     `json:"EventDescription"`

	// PodFqdn without a session means: call again on this host.
	PodFqdn string `json:"PodFqdn"`
	// IdpRedirectUrl means the user is federated to an external IdP.
	IdpRedirectURL      string `json:"IdpRedirectUrl"`
	IdpRedirectShortURL string `json:"IdpRedirectShortUrl"`

	// GeneratedAuthValue is the number to pick in the app when push number
	// matching is on. Its JSON type is not documented: kept raw.
	GeneratedAuthValue json.RawMessage `json:"GeneratedAuthValue"`

	// LoginSuccess fields.
	User         string `json:"User"`
	UserID       string `json:"UserId"`
	DisplayName  string `json:"DisplayName"`
	EmailAddress string `json:"EmailAddress"`
	AuthLevel    string `json:"AuthLevel"`
}

// isPodRedirect reports whether a StartAuthentication answer is the PodFqdn
// redirect of identity-api.md A.2 (variant 2): a PodFqdn and nothing of a
// login, no Summary, no SessionId and no challenges. A LoginSuccess also
// carries PodFqdn, and is no redirect.
func (r *result) isPodRedirect() bool {
	return r.PodFqdn != "" && r.Summary == "" && r.SessionID == "" && len(r.Challenges) == 0
}

// generatedAuthValue returns the number-matching value as text, whether the
// tenant sent it as a string or a number.
func (r *result) generatedAuthValue() string {
	v := strings.TrimSpace(string(r.GeneratedAuthValue))
	if v == "" || v == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(r.GeneratedAuthValue, &s) == nil {
		return s
	}
	return v
}

type challenge struct {
	Mechanisms []mechanism `json:"Mechanisms"`
}

type mechanism struct {
	Name               string         `json:"Name"`
	AnswerType         string         `json:"AnswerType"`
	MechanismID        string         `json:"MechanismId"`
	PromptSelectMech   string         `json:"PromptSelectMech"`
	PromptMechChosen   string         `json:"PromptMechChosen"`
	Enrolled           *bool          `json:"Enrolled,omitempty"`
	Question           string         `json:"Question,omitempty"`
	MultipartMechanism *multipartMech `json:"MultipartMechanism,omitempty"`
}

type multipartMech struct {
	MechanismParts []mechanismPart `json:"MechanismParts"`
}

type mechanismPart struct {
	UUID             string `json:"Uuid"`
	QuestionText     string `json:"QuestionText"`
	PromptMechChosen string `json:"PromptMechChosen"`
}

// startRequest is the body of /Security/StartAuthentication.
type startRequest struct {
	TenantID string `json:"TenantId,omitempty"`
	User     string `json:"User"`
	Version  string `json:"Version"`
}

// advanceRequest is the body of /Security/AdvanceAuthentication.
type advanceRequest struct {
	TenantID        string `json:"TenantId,omitempty"`
	SessionID       string `json:"SessionId"`
	MechanismID     string `json:"MechanismId"`
	Action          string `json:"Action"`
	Answer          any    `json:"Answer,omitempty"`
	PersistentLogin bool   `json:"PersistentLogin"`
}

// tokenResponse is the body of a successful /oauth2/token/{app} call.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

// oauthError is the body of a failed /oauth2/token/{app} call.
type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

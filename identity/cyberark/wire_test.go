package cyberark

import (
	"testing"
)

// loginAnswer is what envelopeCall decodes a login answer into.
type loginAnswer struct {
	envelope
	Result *result `json:"Result"`
}

var answerSamples = []string{
	`{"success":true,"Result":{"Version":"1.0","SessionId":"s-1","Challenges":[{"Mechanisms":[{"AnswerType":"Text","Name":"UP","PromptMechChosen":"Enter Password","PromptSelectMech":"Password","MechanismId":"m-1","Enrolled":true}]},{"Mechanisms":[{"AnswerType":"StartOob","Name":"SMS","PromptSelectMech":"Text message","MechanismId":"m-2"},{"AnswerType":"StartTextOob","Name":"EMAIL","MechanismId":"m-3","MultipartMechanism":{"MechanismParts":[{"Uuid":"u","QuestionText":"q","PromptMechChosen":"p"}]}}]}],"Summary":"NewPackage","TenantId":"ABC1234","ClientHints":{"PersistDefault":false}},"Message":null,"MessageID":null,"Exception":null,"ErrorID":null,"ErrorCode":null,"IsSoftError":false,"InnerExceptions":null}`,
	`{"success":true,"Result":{"Summary":"OobPending","GeneratedAuthValue":42}}`,
	`{"success":true,"Result":{"Summary":"OobPending","GeneratedAuthValue":"17"}}`,
	`{"success":true,"Result":{"Summary":"LoginSuccess","User":"alice@example.com","UserId":"u-1","AuthLevel":"High","DisplayName":"Alice"}}`,
	`{"success":false,"Result":null,"Message":"Authentication (login or challenge) has failed.","ErrorID":"x","IsSoftError":false}`,
	`{"success":true,"Result":{"PodFqdn":"tenant2.my.idaptive.app"}}`,
	`{"Success":true,"result":{"summary":"NewPackage","sessionid":"lower"}}`, // names without regard to case
	`{"success":true,"Result":{"Summary":"A","Summary":"B"}}`,                // the last of duplicates
	"{\"success\":true,\"Result\":{\"Summary\":\"bad \xff utf-8\"}}",         // invalid UTF-8 replaced
	`{"success":true,"Result":{"RetryWaitingTime":1.5}}`,                     // a fraction into an int: an error
	`{"success":true,"Result":[]}`,                                              // not an object
	`{"success":true,"Result":{"Challenges":null,"EventDescription":"e"}} tail`, // trailing data
	`not json`,
}

// TestAnswerShapes: each shape of identity-api.md A.2 and A.4 decodes to
// what the provider acts on.
func TestAnswerShapes(t *testing.T) {
	decode := func(body string) (*loginAnswer, error) {
		var a loginAnswer
		return &a, decodeAnswer([]byte(body), &a)
	}
	for i, body := range answerSamples[:9] {
		if _, err := decode(body); err != nil {
			t.Errorf("sample %d: %v", i, err)
		}
	}
	for i, body := range answerSamples[9:] {
		if _, err := decode(body); err == nil {
			t.Errorf("sample %d: decoded %q without an error", i+9, body)
		}
	}
	a, _ := decode(answerSamples[0])
	if a.Result.SessionID != "s-1" || len(a.Result.Challenges) != 2 || a.Result.isPodRedirect() {
		t.Errorf("NewPackage: %+v", a.Result)
	}
	for body, want := range map[string]string{answerSamples[1]: "42", answerSamples[2]: "17"} {
		if a, _ := decode(body); a.Result.generatedAuthValue() != want {
			t.Errorf("GeneratedAuthValue of %s: %q", body, a.Result.generatedAuthValue())
		}
	}
	if a, _ := decode(answerSamples[5]); !a.Result.isPodRedirect() {
		t.Error("the PodFqdn redirect is not a redirect")
	}
	if a, _ := decode(`{"success":true,"Result":{"Summary":"LoginSuccess","PodFqdn":"abc1234.my.idaptive.app","User":"u"}}`); a.Result.isPodRedirect() {
		t.Error("a LoginSuccess with PodFqdn (seeds 000 and 002) read as a redirect")
	}
	if a, _ := decode(answerSamples[6]); !a.Success || a.Result.SessionID != "lower" {
		t.Errorf("names without regard to case: %+v", a)
	}
}

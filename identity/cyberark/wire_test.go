package cyberark

import (
	"encoding/json"
	"reflect"
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

// decodeAnswer decodes login answers exactly as encoding/json does: the
// same values, and an error for the same inputs.
func TestDecodeAnswerAsEncodingJSON(t *testing.T) {
	for _, body := range answerSamples {
		checkSameDecode(t, []byte(body))
	}
}

func checkSameDecode(t *testing.T, body []byte) {
	t.Helper()
	var want, got loginAnswer
	werr := json.Unmarshal(body, &want)
	gerr := decodeAnswer(body, &got)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%q: encoding/json says %v, decodeAnswer %v", body, werr, gerr)
	}
	if werr == nil && !reflect.DeepEqual(want, got) {
		t.Fatalf("%q:\nencoding/json %+v\ndecodeAnswer  %+v", body, want, got)
	}
}

func FuzzDecodeAnswer(f *testing.F) {
	for _, body := range answerSamples {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkSameDecode(t, body) })
}

package cyberarktest

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// The policy administration endpoints answer with the API guide's own
// bodies ("On Demand Challenges", steps 1 to 6), kept in testdata.
//
//go:embed testdata/seed_redrock_query_response.json testdata/seed_cloudgp_response.json testdata/seed_getniceplinks_response.json testdata/seed_getpolicyblock_response.json
var seeds embed.FS

func seedResult(name string) map[string]any {
	b, err := seeds.ReadFile("testdata/seed_" + name + ".json")
	if err != nil {
		panic(err)
	}
	var env map[string]any
	if err := json.Unmarshal(b, &env); err != nil {
		panic(err)
	}
	return env["Result"].(map[string]any)
}

// policyState is the tenant's policy data: what the guide's responses
// show, changed by AddAuthPolicyModifier and SavePolicyBlock3.
type policyState struct {
	modifiers map[string]bool
	blocks    map[string]map[string]any // path -> policy block (Result of GetPolicyBlock)
	rev       int64
	saved     []map[string]any // bodies of SavePolicyBlock3, for tests
}

func (t *Tenant) policies() *policyState {
	if t.pol == nil {
		block := seedResult("getpolicyblock_response")
		t.pol = &policyState{modifiers: map[string]bool{}, blocks: map[string]map[string]any{block["Path"].(string): block}, rev: 636486318310000000}
		block["RevStamp"] = fmt.Sprint(t.pol.rev)
	}
	return t.pol
}

// TouchPolicy changes a policy's RevStamp, as another admin saving it
// would.
func (t *Tenant) TouchPolicy(path string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.policies()
	if b := st.blocks[path]; b != nil {
		st.rev++
		b["RevStamp"] = fmt.Sprint(st.rev)
	}
}

// SavedPolicies returns the bodies SavePolicyBlock3 received.
func (t *Tenant) SavedPolicies() []map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]map[string]any(nil), t.policies().saved...)
}

// adminCall checks the service account's token; it writes the 401 itself.
func (t *Tenant) adminCall(w http.ResponseWriter, r *http.Request) bool {
	if t.bearerValid(r) {
		return true
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(`{"success":false,"Result":null,"Message":"Not authorized","MessageID":null,"Exception":null,"ErrorID":null,"ErrorCode":null,"IsSoftError":false,"InnerExceptions":null}`))
	return false
}

func (t *Tenant) redrockQuery(w http.ResponseWriter, r *http.Request, body map[string]any) {
	if !t.adminCall(w, r) {
		return
	}
	script, _ := body["Script"].(string)
	if !strings.Contains(strings.ToLower(script), "from role") {
		writeEnvelope(w, false, nil, "Only the Role table is emulated.")
		return
	}
	writeEnvelope(w, true, seedResult("redrock_query_response"), "")
}

func (t *Tenant) cloudGP(w http.ResponseWriter, r *http.Request, _ map[string]any) {
	if !t.adminCall(w, r) {
		return
	}
	writeEnvelope(w, true, seedResult("cloudgp_response"), "")
}

func (t *Tenant) nicePlinks(w http.ResponseWriter, r *http.Request, _ map[string]any) {
	if !t.adminCall(w, r) {
		return
	}
	writeEnvelope(w, true, seedResult("getniceplinks_response"), "")
}

func (t *Tenant) policyBlock(w http.ResponseWriter, r *http.Request, body map[string]any) {
	if !t.adminCall(w, r) {
		return
	}
	name, _ := body["name"].(string)
	if name == "" {
		name, _ = body["Name"].(string)
	}
	t.mu.Lock()
	block := t.policies().blocks[name]
	var out map[string]any
	if block != nil {
		b, _ := json.Marshal(block)
		_ = json.Unmarshal(b, &out)
	}
	t.mu.Unlock()
	if out == nil {
		writeEnvelope(w, false, nil, fmt.Sprintf("Policy %q not found.", name))
		return
	}
	writeEnvelope(w, true, out, "")
}

func (t *Tenant) addModifier(w http.ResponseWriter, r *http.Request, body map[string]any) {
	if !t.adminCall(w, r) {
		return
	}
	name, _ := body["PolicyModifier"].(string)
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.policies()
	if name == "" || st.modifiers[name] {
		writeEnvelope(w, false, nil, fmt.Sprintf("Policy modifier %q already exists or is empty.", name))
		return
	}
	st.modifiers[name] = true
	t.opts.PolicyModifiers = append(t.opts.PolicyModifiers, name)
	writeEnvelope(w, true, nil, "")
}

func (t *Tenant) savePolicyBlock(w http.ResponseWriter, r *http.Request, body map[string]any) {
	if !t.adminCall(w, r) {
		return
	}
	policy, _ := body["policy"].(map[string]any)
	if _, ok := body["plinks"].([]any); !ok || policy == nil {
		writeEnvelope(w, false, nil, "policy and plinks are required.")
		return
	}
	path, _ := policy["Path"].(string)
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.policies()
	st.saved = append(st.saved, body)
	cur := st.blocks[path]
	if cur != nil && policy["RevStamp"] != cur["RevStamp"] {
		writeEnvelope(w, false, nil, "The policy has been modified by another user since it was read (RevStamp mismatch).")
		return
	}
	if mods, _ := policy["PolicyModifiers"].([]any); len(mods) > 0 {
		for _, m := range mods {
			if s, _ := m.(string); !st.modifiers[s] {
				writeEnvelope(w, false, nil, fmt.Sprintf("Unknown policy modifier %q.", s))
				return
			}
		}
	}
	var stored map[string]any // a copy: the recorded body stays as sent
	b, _ := json.Marshal(policy)
	_ = json.Unmarshal(b, &stored)
	st.rev++
	stored["RevStamp"] = fmt.Sprint(st.rev)
	delete(stored, "Newpolicy")
	if t.opts.KeepModifiersEmpty {
		stored["PolicyModifiers"] = []any{}
	}
	st.blocks[path] = stored
	writeEnvelope(w, true, map[string]any{"RevStamp": fmt.Sprint(st.rev)}, "")
}

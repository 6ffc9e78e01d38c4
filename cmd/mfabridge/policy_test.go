package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/identity/cyberark"
	"github.com/mfabridge/mfabridge/identity/cyberark/cyberarktest"
)

const seedDir = "../../identity/cyberark/cyberarktest/testdata/"

func seed(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(seedDir + "seed_" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func keys(m map[string]any) string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return strings.Join(k, ",")
}

// policyTenant is an emulated tenant with a service account, and a
// configuration file naming it.
func policyTenant(t *testing.T, mutate ...func(*cyberarktest.Options)) (*cyberarktest.Tenant, string) {
	t.Helper()
	opts := cyberarktest.Options{
		Users: []cyberarktest.User{{Name: "alice", Password: "alice-pw", Factors: []cyberarktest.Factor{cyberarktest.OATH}, OATHSecret: "JBSWY3DPEHPK3PXP"}},
		Apps:  []cyberarktest.App{{ID: "mfabridge", ClientID: "svc@example", ClientSecret: "svc-secret-0123", Scope: "radius"}},
	}
	for _, m := range mutate {
		m(&opts)
	}
	tn := cyberarktest.New(opts)
	t.Cleanup(tn.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	_ = os.WriteFile(ca, tn.Certificate(), 0o600)
	file := filepath.Join(dir, "radius.conf")
	_ = os.WriteFile(file, []byte(fmt.Sprintf(`
[[provider]]
name = "corp"
url = %q
ca_file = %q
app_id = "mfabridge"
client_id = "svc@example"
client_secret = "svc-secret-0123"
scope = "radius"
[[client]]
name = "vpn"
address = ["127.0.0.1"]
secret = "a-long-shared-secret-01234"
`, tn.URL, ca)), 0o600)
	return tn, file
}

func policyCmd(file string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	all := append([]string{"mfabridge", "policy"}, args...)
	all = append(all, "--config", file)
	code := run(context.Background(), all, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// body returns the body of the last call to path.
func body(t *testing.T, tn *cyberarktest.Tenant, path string) map[string]any {
	t.Helper()
	var last map[string]any
	for _, c := range tn.Calls() {
		if c.Path == strings.ToLower(path) {
			last = c.Body
		}
	}
	if last == nil {
		t.Fatalf("no call to %s", path)
	}
	return last
}

func TestPolicyRolesCloudGPList(t *testing.T) {
	tn, file := policyTenant(t)
	code, out, errOut := policyCmd(file, "roles")
	if code != 0 || !strings.Contains(out, "App Gateway Devs") {
		t.Fatalf("roles: %d %s %s", code, out, errOut)
	}
	// The request is the guide's, field by field.
	want, got := seed(t, "redrock_query_request"), body(t, tn, "/RedRock/query")
	wb, _ := json.Marshal(want)
	gb, _ := json.Marshal(got)
	if string(wb) != string(gb) {
		t.Errorf("RedRock/query body %s, want %s", gb, wb)
	}
	if code, out, _ = policyCmd(file, "cloudgp"); code != 0 || !strings.Contains(out, "useCloudGP") || !strings.Contains(out, "true") {
		t.Fatalf("cloudgp: %d %s", code, out)
	}
	for _, c := range tn.Calls() {
		if c.Path == "/policy/getusingcloudmobilegp" && c.Body != nil {
			t.Errorf("GetUsingCloudMobileGP sent a body %v; the guide's step 2 sends none", c.Body)
		}
	}
	code, out, _ = policyCmd(file, "list", "--json")
	var rows []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) == 0 || rows[0]["ID"] != "/Policy/Default Policy" {
		t.Fatalf("list --json: %d %s", code, out)
	}
	wb, _ = json.Marshal(seed(t, "getniceplinks_request"))
	gb, _ = json.Marshal(body(t, tn, "/Policy/GetNicePlinks"))
	if string(wb) != string(gb) {
		t.Errorf("GetNicePlinks body %s, want %s", gb, wb)
	}
}

func TestPolicyShow(t *testing.T) {
	tn, file := policyTenant(t)
	code, out, errOut := policyCmd(file, "show", "--policy", "/Policy/Default Policy")
	if code != 0 || !strings.Contains(out, "Default New Device Login Profile") || !strings.Contains(out, "/Core/Authentication/AllowIwa") {
		t.Fatalf("show: %d %s %s", code, out, errOut)
	}
	if k := keys(body(t, tn, "/Policy/GetPolicyBlock")); k != keys(seed(t, "getpolicyblock_request")) {
		t.Errorf("GetPolicyBlock body keys %s", k)
	}
}

// TestPolicyCreate: dry run, then the change (with the guide's bodies),
// then a second run that changes nothing, then an on-demand login through
// the new challenge policy.
// TestPolicyCreate follows the guide's steps 3 to 6 against a tenant that
// lists the new challenge policy in PolicyModifiers afterwards and one that
// keeps the list empty, as the guide's step 6 saves it.
func TestPolicyCreate(t *testing.T) {
	for _, empty := range []bool{false, true} {
		t.Run(fmt.Sprintf("PolicyModifiers kept empty %v", empty), func(t *testing.T) {
			testPolicyCreate(t, func(o *cyberarktest.Options) { o.KeepModifiersEmpty = empty })
		})
	}
}

func testPolicyCreate(t *testing.T, mutate func(*cyberarktest.Options)) {
	tn, file := policyTenant(t, mutate)
	args := []string{"create", "--policy", "/Policy/Default Policy", "--modifier", "RadiusMFA", "--profile", "Default New Device Login Profile"}

	code, out, errOut := policyCmd(file, append(args, "--dry-run")...)
	if code != 0 || !strings.Contains(out, "+ policy modifier RadiusMFA") || !strings.Contains(out, "+ /Core/RadiusMFA/AuthenticationEnabled: true") ||
		!strings.Contains(out, `+ /Core/RadiusMFA/Authentication/AuthenticationRulesDefaultProfileId: "12222222-9aad-4e49-8e23-1e4561d9b7c3"`) {
		t.Fatalf("dry run: %d\n%s%s", code, out, errOut)
	}
	if tn.Count("/Policy/AddAuthPolicyModifier", "")+tn.Count("/Policy/SavePolicyBlock3", "") != 0 {
		t.Fatal("the dry run changed the tenant")
	}

	if code, out, errOut = policyCmd(file, args...); code != 0 || !strings.Contains(out, "Saved (RevStamp") {
		t.Fatalf("create: %d\n%s%s", code, out, errOut)
	}
	if k := keys(body(t, tn, "/Policy/AddAuthPolicyModifier")); k != keys(seed(t, "addauthpolicymodifier_request")) {
		t.Errorf("AddAuthPolicyModifier body keys %s", k)
	}
	saved := tn.SavedPolicies()
	if len(saved) != 1 {
		t.Fatalf("%d saves", len(saved))
	}
	want := seed(t, "savepolicyblock3_request")
	if keys(saved[0]) != keys(want) {
		t.Fatalf("SavePolicyBlock3 keys %s, want %s", keys(saved[0]), keys(want))
	}
	gotPolicy, wantPolicy := saved[0]["policy"].(map[string]any), want["policy"].(map[string]any)
	if keys(gotPolicy) != keys(wantPolicy) {
		t.Errorf("policy keys %s, want %s", keys(gotPolicy), keys(wantPolicy))
	}
	if gotPolicy["Newpolicy"] != false || gotPolicy["RevStamp"] == "" {
		t.Errorf("Newpolicy %v RevStamp %v", gotPolicy["Newpolicy"], gotPolicy["RevStamp"])
	}
	// The steps in the guide's order: the links, the block, the modifier,
	// the save.
	var order []string
	for _, c := range tn.Calls() {
		switch c.Path {
		case "/policy/getniceplinks", "/policy/getpolicyblock", "/policy/addauthpolicymodifier", "/policy/savepolicyblock3":
			order = append(order, strings.TrimPrefix(c.Path, "/policy/"))
		}
	}
	if got := strings.Join(order, " "); !strings.HasSuffix(got, "getniceplinks getpolicyblock addauthpolicymodifier savepolicyblock3") {
		t.Errorf("calls in the order %s, want the guide's: getniceplinks getpolicyblock addauthpolicymodifier savepolicyblock3", got)
	}
	// PolicyModifiers is saved as it was read, as the guide's step 6.
	if got, want := fmt.Sprint(gotPolicy["PolicyModifiers"]), fmt.Sprint(seed(t, "getpolicyblock_response")["Result"].(map[string]any)["PolicyModifiers"]); got != want {
		t.Errorf("PolicyModifiers saved as %s, read as %s", got, want)
	}
	gs, ws := gotPolicy["Settings"].(map[string]any), wantPolicy["Settings"].(map[string]any)
	// Field by field: the challenge policy's settings have the guide's
	// values, but for its profile id and its rules (the guide's example
	// limits the profile to a date range; mfabridge's applies it always).
	for _, suffix := range []string{"AuthenticationEnabled", "Authentication/NoMfaMechLogin"} {
		if g, w := fmt.Sprint(gs["/Core/RadiusMFA/"+suffix]), fmt.Sprint(ws["/Core/test1/"+suffix]); g != w {
			t.Errorf("%s = %s, the guide has %s", suffix, g, w)
		}
	}
	for _, suffix := range []string{"AuthenticationEnabled", "Authentication/AuthenticationRules", "Authentication/AuthenticationRulesDefaultProfileId", "Authentication/NoMfaMechLogin"} {
		g, w := gs["/Core/RadiusMFA/"+suffix], ws["/Core/test1/"+suffix]
		if fmt.Sprintf("%T", g) != fmt.Sprintf("%T", w) {
			t.Errorf("%s: %T, the guide has %T", suffix, g, w)
		}
	}
	if rules := gs["/Core/RadiusMFA/Authentication/AuthenticationRules"].(map[string]any); keys(rules) != keys(ws["/Core/test1/Authentication/AuthenticationRules"].(map[string]any)) {
		t.Errorf("AuthenticationRules keys %s", keys(rules))
	}
	plinks := saved[0]["plinks"].([]any)
	if len(plinks) == 0 || keys(plinks[0].(map[string]any)) != "Description,EnableCompliant,I18NDescriptionTag,ID,LinkType,Params,PolicySet" {
		t.Errorf("plinks %v", plinks)
	}

	// A second run changes nothing.
	code, out, _ = policyCmd(file, args...)
	if code != 0 || !strings.Contains(out, "nothing to change") || len(tn.SavedPolicies()) != 1 || tn.Count("/Policy/AddAuthPolicyModifier", "") != 1 {
		t.Fatalf("second run: %d %s", code, out)
	}

	// The challenge policy now serves on-demand logins.
	p, err := cyberark.Config{URL: tn.URL, HTTPClient: tn.Client(), Mode: cyberark.ModeOnDemand, AppID: "mfabridge", ClientID: "svc@example", ClientSecret: "svc-secret-0123", Scope: "radius", PolicyModifier: "RadiusMFA"}.Open()
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Start(context.Background(), identity.Request{User: "alice", Password: "alice-pw"})
	if err != nil || s.Status != identity.Waiting {
		t.Fatalf("on-demand login: %v %v", err, s.Status)
	}
}

func TestPolicyConflictIsReported(t *testing.T) {
	tn, file := policyTenant(t)
	tn.Inject("/Policy/SavePolicyBlock3", cyberarktest.Fault{Status: 200, ContentType: "application/json",
		Body: `{"success":false,"Result":null,"Message":"The policy has been modified by another user since it was read (RevStamp mismatch).","MessageID":null,"Exception":null,"ErrorID":null,"ErrorCode":null,"IsSoftError":false,"InnerExceptions":null}`, Times: 1})
	code, _, errOut := policyCmd(file, "create", "--policy", "/Policy/Default Policy", "--modifier", "RadiusMFA", "--profile", "12222222-9aad-4e49-8e23-1e4561d9b7c3")
	if code != 3 || !strings.Contains(errOut, "changed since it was read") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func TestPolicyErrors(t *testing.T) {
	_, file := policyTenant(t)
	if code, _, errOut := policyCmd(file, "create", "--policy", "/Policy/Default Policy", "--modifier", "RadiusMFA", "--profile", "No Such Profile"); code != 1 || !strings.Contains(errOut, "it has: Default New Device Login Profile") {
		t.Fatalf("unknown profile: %d %s", code, errOut)
	}
	if code, _, errOut := policyCmd(file, "show", "--policy", "/Policy/Nope"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("unknown policy: %d %s", code, errOut)
	}
	if code, _, _ := policyCmd(file, "frobnicate"); code != 2 {
		t.Fatalf("unknown command: %d", code)
	}
	_ = time.Second
}

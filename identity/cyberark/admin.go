package cyberark

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Admin calls the tenant's administration API (roles, policies, challenge
// policies) with the service account: what `mfabridge policy` uses to set up
// the on-demand mode.
type Admin struct{ p *provider }

// OpenAdmin validates c and returns its administration client; c must
// name the service account (app_id, client_id, client_secret).
func (c Config) OpenAdmin() (*Admin, error) {
	if c.AppID == "" || c.ClientID == "" || c.ClientSecret == "" {
		return nil, ErrNoServiceAccount
	}
	mode := c.Mode
	c.Mode = ModeLogin // the service account is all Admin needs
	p, err := c.open()
	if err != nil {
		return nil, err
	}
	p.cfg.Mode = mode
	return &Admin{p: p}, nil
}

// ErrConflict is a policy that changed between reading and saving it.
var ErrConflict = errors.New("cyberark: the policy changed since it was read (RevStamp); nothing was saved: run the command again")

// queryArgs are the paging arguments of /RedRock/query and
// /Policy/GetNicePlinks, as the API guide sends them.
var queryArgs = map[string]any{"PageNumber": 1, "PageSize": 100000, "Limit": 100000, "SortBy": "", "direction": "False", "Caching": -1}

// post calls an administration endpoint with the service account's token
// and returns the envelope's Result; success:false is an error with the
// tenant's message.
func (a *Admin) post(ctx context.Context, op, path string, body any, safe bool) (json.RawMessage, error) {
	token, err := a.p.tokens.get(ctx)
	if err != nil {
		return nil, err
	}
	env, err := a.p.envelopeOnly(ctx, call{op: op, base: a.p.base, path: path, body: body, bearer: token, safe: safe})
	if err != nil {
		return nil, err
	}
	if !env.Success {
		return nil, fmt.Errorf("cyberark: %s refused: %s", op, env.message())
	}
	return env.Result, nil
}

// Role is a tenant role.
type Role struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// Roles lists the tenant's roles (/RedRock/query on the Role table).
func (a *Admin) Roles(ctx context.Context) ([]Role, error) {
	res, err := a.post(ctx, "RedRock/query", "/RedRock/query", map[string]any{
		"Script": "Select *, COALESCE(Name, ID) AS DisplayName from Role ORDER BY DisplayName COLLATE NOCASE",
		"Args":   queryArgs,
	}, true)
	if err != nil {
		return nil, err
	}
	var out struct {
		Results []struct {
			Row struct {
				ID          string  `json:"ID"`
				Name        string  `json:"Name"`
				DisplayName string  `json:"DisplayName"`
				Description *string `json:"Description"`
			} `json:"Row"`
		} `json:"Results"`
	}
	if err := json.Unmarshal(res, &out); err != nil {
		return nil, a.p.upstream("RedRock/query", http.StatusOK, ErrMalformed)
	}
	var roles []Role
	for _, r := range out.Results {
		role := Role{ID: r.Row.ID, Name: r.Row.DisplayName}
		if role.Name == "" {
			role.Name = r.Row.Name
		}
		if r.Row.Description != nil {
			role.Description = *r.Row.Description
		}
		roles = append(roles, role)
	}
	return roles, nil
}

// CloudGP returns the tenant's cloud mobile GP settings
// (/Policy/GetUsingCloudMobileGP), as the tenant sends them.
func (a *Admin) CloudGP(ctx context.Context) (map[string]any, error) {
	res, err := a.post(ctx, "GetUsingCloudMobileGP", "/Policy/GetUsingCloudMobileGP", nil, true) // no body, as step 2 of the guide
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(res, &out); err != nil {
		return nil, a.p.upstream("GetUsingCloudMobileGP", http.StatusOK, ErrMalformed)
	}
	return out, nil
}

// Plinks are the tenant's policy links (/Policy/GetNicePlinks): each row as
// the tenant sends it, to be sent back whole when a policy is saved.
type Plinks struct {
	RevStamp string
	Rows     []map[string]any
}

// Plinks lists the policy links.
func (a *Admin) Plinks(ctx context.Context) (*Plinks, error) {
	res, err := a.post(ctx, "GetNicePlinks", "/Policy/GetNicePlinks", map[string]any{"Args": queryArgs}, true)
	if err != nil {
		return nil, err
	}
	var out struct {
		RevStamp string `json:"RevStamp"`
		Results  []struct {
			Row map[string]any `json:"Row"`
		} `json:"Results"`
	}
	if err := json.Unmarshal(res, &out); err != nil {
		return nil, a.p.upstream("GetNicePlinks", http.StatusOK, ErrMalformed)
	}
	pl := &Plinks{RevStamp: out.RevStamp}
	for _, r := range out.Results {
		pl.Rows = append(pl.Rows, r.Row)
	}
	return pl, nil
}

// PolicyBlock is a policy as /Policy/GetPolicyBlock returns it. Raw keeps
// every field so that saving sends back what was read.
type PolicyBlock struct {
	Raw map[string]any
}

// Settings are the policy's settings.
func (b *PolicyBlock) Settings() map[string]any {
	s, _ := b.Raw["Settings"].(map[string]any)
	if s == nil {
		s = map[string]any{}
		b.Raw["Settings"] = s
	}
	return s
}

// RevStamp is the revision the block was read at.
func (b *PolicyBlock) RevStamp() string { s, _ := b.Raw["RevStamp"].(string); return s }

// Modifiers are the policy modifiers (challenge policies) of the block.
func (b *PolicyBlock) Modifiers() []string {
	var out []string
	l, _ := b.Raw["PolicyModifiers"].([]any)
	for _, m := range l {
		if s, ok := m.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Profile is an authentication profile listed in a policy block.
type Profile struct {
	UUID       string   `json:"uuid"`
	Name       string   `json:"name"`
	Challenges []string `json:"challenges"`
}

// hasModifier reports whether the policy already holds the challenge
// policy named m: the block lists it in PolicyModifiers, or its settings
// hold keys under /Core/<m>/, which a save of its settings leaves (the
// guide's step 6; a tenant may keep PolicyModifiers empty).
func (b *PolicyBlock) hasModifier(m string) bool {
	for _, x := range b.Modifiers() {
		if x == m {
			return true
		}
	}
	prefix := "/Core/" + m + "/"
	for k := range b.Settings() {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// Profiles are the authentication profiles the block lists.
func (b *PolicyBlock) Profiles() []Profile {
	var out []Profile
	l, _ := b.Raw["AuthProfiles"].([]any)
	for _, x := range l {
		m, _ := x.(map[string]any)
		p := Profile{}
		p.UUID, _ = m["Uuid"].(string)
		p.Name, _ = m["Name"].(string)
		ch, _ := m["Challenges"].([]any)
		for _, c := range ch {
			if s, ok := c.(string); ok {
				p.Challenges = append(p.Challenges, s)
			}
		}
		out = append(out, p)
	}
	return out
}

// PolicyBlock reads a policy by its path, such as "/Policy/Default Policy".
func (a *Admin) PolicyBlock(ctx context.Context, name string) (*PolicyBlock, error) {
	res, err := a.post(ctx, "GetPolicyBlock", "/Policy/GetPolicyBlock", map[string]any{"name": name}, true)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if err := json.Unmarshal(res, &raw); err != nil || raw == nil {
		return nil, a.p.upstream("GetPolicyBlock", http.StatusOK, ErrMalformed)
	}
	return &PolicyBlock{Raw: raw}, nil
}

// Change is one setting a challenge policy sets.
type Change struct {
	Key      string `json:"key"`
	Old, New any
	Added    bool `json:"added"`
}

// ChallengePlan is what creating a challenge policy would change.
type ChallengePlan struct {
	Policy        string   `json:"policy"`
	Modifier      string   `json:"modifier"`
	Profile       Profile  `json:"profile"`
	AddModifier   bool     `json:"add_modifier"`
	Changes       []Change `json:"changes"`
	block         *PolicyBlock
	plinks        *Plinks
	desiredValues map[string]any
}

// Empty reports whether there is nothing to change (a second run).
func (c *ChallengePlan) Empty() bool { return !c.AddModifier && len(c.Changes) == 0 }

// PlanChallengePolicy reads the policy and works out the settings of a
// challenge policy (policy modifier) named modifier whose default
// authentication profile is profile (a UUID or a name from the policy's
// profiles), as step 6 of the on-demand guide sets them.
func (a *Admin) PlanChallengePolicy(ctx context.Context, policy, modifier, profile string) (*ChallengePlan, error) {
	if modifier == "" || strings.ContainsAny(modifier, "/ ") {
		return nil, fmt.Errorf("the challenge policy name %q must be one word without / (it becomes /Core/<name>/ in the settings)", modifier)
	}
	// The guide's steps in order: the policy links (step 3), then the
	// block (step 4).
	plinks, err := a.Plinks(ctx)
	if err != nil {
		return nil, err
	}
	block, err := a.PolicyBlock(ctx, policy)
	if err != nil {
		return nil, err
	}
	var prof *Profile
	var names []string
	for _, p := range block.Profiles() {
		p := p
		names = append(names, fmt.Sprintf("%s (%s)", p.Name, p.UUID))
		if strings.EqualFold(p.UUID, profile) || strings.EqualFold(p.Name, profile) {
			prof = &p
		}
	}
	if prof == nil && isUUID(profile) {
		// A profile of the tenant that this policy does not list yet.
		prof = &Profile{UUID: profile, Name: "(not listed in this policy)"}
	}
	if prof == nil {
		sort.Strings(names)
		return nil, fmt.Errorf("no authentication profile %q in %s; it has: %s", profile, policy, strings.Join(names, ", "))
	}
	prefix := "/Core/" + modifier
	desired := map[string]any{
		prefix + "/AuthenticationEnabled": true,
		prefix + "/Authentication/AuthenticationRules": map[string]any{
			"_Type": "RowSet", "Enabled": true, "_UniqueKey": "Condition", "_Value": []any{},
		},
		prefix + "/Authentication/AuthenticationRulesDefaultProfileId": prof.UUID,
		prefix + "/Authentication/NoMfaMechLogin":                      false,
	}
	plan := &ChallengePlan{Policy: policy, Modifier: modifier, Profile: *prof, block: block, plinks: plinks, desiredValues: desired}
	plan.AddModifier = !block.hasModifier(modifier)
	settings := block.Settings()
	keys := make([]string, 0, len(desired))
	for k := range desired {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		old, ok := settings[k]
		if ok && jsonEqual(old, desired[k]) {
			continue
		}
		plan.Changes = append(plan.Changes, Change{Key: k, Old: old, New: desired[k], Added: !ok})
	}
	return plan, nil
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// Apply carries out a plan: it adds the policy modifier
// (/Policy/AddAuthPolicyModifier) when the policy does not list it yet,
// then saves the policy block with the new settings and every policy link
// (/Policy/SavePolicyBlock3), at the RevStamp it was read at; a policy
// changed meanwhile is ErrConflict. It returns the new RevStamp.
func (a *Admin) Apply(ctx context.Context, plan *ChallengePlan) (string, error) {
	if plan.Empty() {
		return plan.block.RevStamp(), nil
	}
	plinks := plan.plinks
	if plan.AddModifier {
		// Step 5. The block is then saved with PolicyModifiers as it was
		// read (step 6 of the guide saves "PolicyModifiers": []).
		if _, err := a.post(ctx, "AddAuthPolicyModifier", "/Policy/AddAuthPolicyModifier", map[string]any{"PolicyModifier": plan.Modifier}, false); err != nil {
			return "", err
		}
	}
	settings := plan.block.Settings()
	for k, v := range plan.desiredValues {
		settings[k] = v
	}
	policy := plan.block.Raw
	policy["Newpolicy"] = false
	rows := plinks.Rows
	if rows == nil {
		rows = []map[string]any{}
	}
	res, err := a.post(ctx, "SavePolicyBlock3", "/Policy/SavePolicyBlock3", map[string]any{"policy": policy, "plinks": rows}, false)
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "revstamp") || strings.Contains(strings.ToLower(err.Error()), "modified") {
			return "", fmt.Errorf("%w (%v)", ErrConflict, err)
		}
		return "", err
	}
	var out struct {
		RevStamp string `json:"RevStamp"`
	}
	_ = json.Unmarshal(res, &out)
	return out.RevStamp, nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", r):
			return false
		}
	}
	return true
}

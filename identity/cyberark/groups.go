package cyberark

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/mfabridge/mfabridge/identity"
	"github.com/patrickmn/go-cache"
)

// ErrNoServiceAccount is a role lookup without app_id, client_id and
// client_secret configured.
var ErrNoServiceAccount = errors.New("cyberark: looking up roles needs the service account (app_id, client_id, client_secret)")

// groupsTTL is how long a user's roles are kept.
const groupsTTL = time.Minute

var _ identity.GroupLookup = (*provider)(nil)

// newGroupCache keeps looked-up roles for groupsTTL, by user id. Only a
// user who passed MFA adds an entry, so a plain expiring map (go-cache)
// fits: nobody can flood it.
func newGroupCache() *cache.Cache { return cache.New(groupsTTL, 2*groupsTTL) }

// Groups returns the names of the user's roles, looked up with the service
// account through /UserMgmt/GetUsersRolesAndAdministrativeRights and kept
// for a minute.
func (p *provider) Groups(ctx context.Context, id identity.Identity) ([]string, error) {
	if p.cfg.AppID == "" || p.cfg.ClientID == "" || p.cfg.ClientSecret == "" {
		return nil, ErrNoServiceAccount
	}
	if id.ID == "" {
		return nil, p.upstream("GetUsersRolesAndAdministrativeRights", 0, errors.New("cyberark: the login did not report the user's id"))
	}
	if groups, ok := p.groups.Get(id.ID); ok {
		return groups.([]string), nil
	}

	token, err := p.tokens.get(ctx)
	if err != nil {
		return nil, err
	}
	env, err := p.envelopeOnly(ctx, call{
		op:     "GetUsersRolesAndAdministrativeRights",
		base:   p.base,
		path:   "/UserMgmt/GetUsersRolesAndAdministrativeRights?id=" + url.QueryEscape(id.ID),
		body:   map[string]any{},
		bearer: token,
		safe:   true,
	})
	if err != nil {
		return nil, err
	}
	if !env.Success {
		return nil, p.upstream("GetUsersRolesAndAdministrativeRights", http.StatusOK, fmt.Errorf("cyberark: role lookup refused: %s", env.message()))
	}
	var res struct {
		Results []struct {
			Row struct {
				Name     string `json:"Name"`
				RoleName string `json:"RoleName"`
			} `json:"Row"`
		} `json:"Results"`
	}
	if err := json.Unmarshal(env.Result, &res); err != nil {
		return nil, p.upstream("GetUsersRolesAndAdministrativeRights", http.StatusOK, ErrMalformed)
	}
	groups := []string{}
	for _, r := range res.Results {
		name := r.Row.Name
		if name == "" {
			name = r.Row.RoleName
		}
		if name != "" {
			groups = append(groups, name)
		}
	}
	p.groups.SetDefault(id.ID, groups)
	return groups, nil
}

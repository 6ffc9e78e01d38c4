package cyberark

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/mfabridge/mfabridge/identity"
)

// ErrNoServiceAccount is a role lookup without app_id, client_id and
// client_secret configured.
var ErrNoServiceAccount = errors.New("cyberark: looking up roles needs the service account (app_id, client_id, client_secret)")

// groupsTTL is how long a user's roles are kept.
const groupsTTL = time.Minute

var _ identity.GroupLookup = (*provider)(nil)

type groupsEntry struct {
	groups  []string
	expires time.Time
}

// groupCache keeps looked-up roles briefly, bounded in size.
type groupCache struct {
	mu      sync.Mutex
	entries map[string]groupsEntry
}

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
	now := p.cfg.Now()
	p.groups.mu.Lock()
	if e, ok := p.groups.entries[id.ID]; ok && now.Before(e.expires) {
		p.groups.mu.Unlock()
		return e.groups, nil
	}
	p.groups.mu.Unlock()

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
	p.groups.mu.Lock()
	if p.groups.entries == nil || len(p.groups.entries) > 10000 {
		p.groups.entries = map[string]groupsEntry{}
	}
	p.groups.entries[id.ID] = groupsEntry{groups: groups, expires: now.Add(groupsTTL)}
	p.groups.mu.Unlock()
	return groups, nil
}

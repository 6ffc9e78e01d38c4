package auth0

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/mfabridge/mfabridge/identity"
)

var _ identity.Prober = (*provider)(nil)

// Probe checks the tenant and the application's credentials without a
// login: a password grant with no user name. Auth0 checks the client's
// authentication before the request's parameters, so a wrong client_id,
// client_secret or client_auth answers invalid_client (or
// unauthorized_client for a grant type the application lacks), and good
// ones an error about the missing user, which is no login attempt.
func (p *provider) Probe(ctx context.Context) error {
	form := url.Values{"grant_type": {grantPassword}, "username": {""}, "password": {""}, "scope": {p.cfg.Scope}}
	if p.cfg.Realm != "" {
		form.Set("grant_type", grantRealm)
		form.Set("realm", p.cfg.Realm)
	}
	ts, ae, err := p.grant(ctx, "probe", form, "", true)
	switch {
	case err != nil:
		return err
	case ts != nil:
		return nil
	}
	switch ae.Code {
	case "invalid_client", "unauthorized_client", "unsupported_grant_type", "invalid_scope":
		return p.upstream("probe", ae.status, fmt.Errorf("Auth0 refused the application: %s: %s (check client_id, client_secret, client_auth and the Password and MFA grant types)", ae.Code, ae.Description))
	}
	if ae.Code == "invalid_request" && ae.Description == "connection is disabled" {
		return p.upstream("probe", http.StatusBadRequest, fmt.Errorf("Auth0: %s: %s (check realm)", ae.Code, ae.Description))
	}
	return nil
}

package cyberark

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/mfabridge/mfabridge/identity"
)

var _ identity.Prober = (*provider)(nil)

// Probe checks the tenant without a login: with a service account (mode
// ondemand, or one for roles), a fresh token from its token endpoint (the
// credentials work); otherwise a StartAuthentication with no user, which
// the tenant refuses with its JSON envelope (identity-api.md A.2, variant
// 5), proving the URL is a CyberArk Identity tenant that answers.
func (p *provider) Probe(ctx context.Context) error {
	if p.cfg.AppID != "" && p.cfg.ClientID != "" && p.cfg.ClientSecret != "" {
		_, _, err := p.tokens.fetch(ctx)
		return err
	}
	body, err := p.do(ctx, call{op: "probe", base: p.base, path: "/Security/StartAuthentication", body: startRequest{TenantID: p.cfg.TenantID, User: "", Version: "1.0"}, safe: true})
	if err != nil {
		return err
	}
	var env struct {
		Success *bool `json:"success"`
	}
	if json.Unmarshal(body, &env) != nil || env.Success == nil {
		return p.upstream("probe", http.StatusOK, fmt.Errorf("%w: the answer is not a CyberArk Identity envelope (check url)", ErrMalformed))
	}
	return nil
}

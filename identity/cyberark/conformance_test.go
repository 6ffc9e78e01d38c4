package cyberark

import (
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/identity/cyberark/cyberarktest"
	"github.com/mfabridge/mfabridge/identity/identitytest"
	"github.com/mfabridge/mfabridge/internal/totp"
)

// TestConformance runs the provider conformance suite against the
// emulated CyberArk Identity tenant.
func TestConformance(t *testing.T) {
	identitytest.Conformance(t, func(t *testing.T, u identitytest.User) identitytest.Tenant {
		cu := cyberarktest.User{Name: u.Name, Password: u.Password}
		if u.Code {
			cu.Factors, cu.OATHSecret = append(cu.Factors, cyberarktest.OATH), oathSecret
		}
		if u.Push {
			cu.Factors = append(cu.Factors, cyberarktest.Push)
		}
		if u.Unenrolled {
			cu.Factors = []cyberarktest.Factor{cyberarktest.U2F}
		}
		e := newEnv(t, func(o *cyberarktest.Options, _ *Config) { o.Users = []cyberarktest.User{cu} })
		decide := func(f func(string) bool) func(string) {
			return func(user string) {
				if !f(user) {
					t.Errorf("no push of %s to decide", user)
				}
			}
		}
		return identitytest.Tenant{
			Provider: e.p,
			Code: func(string) string {
				key, _ := totp.DecodeSecret(oathSecret)
				return totp.Code(key, time.Now())
			},
			Approve: decide(e.tn.Approve),
			Deny:    decide(e.tn.Deny),
			Down:    e.tn.Close,
		}
	})
}

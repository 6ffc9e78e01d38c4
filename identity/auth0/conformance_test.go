package auth0

import (
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/identity/auth0/auth0test"
	"github.com/mfabridge/mfabridge/identity/identitytest"
)

// TestConformance runs the provider conformance suite against the
// emulated Auth0 tenant, whose clock moves on past the 5 s between polls
// Auth0 allows whenever the user decides a push.
func TestConformance(t *testing.T) {
	identitytest.Conformance(t, func(t *testing.T, u identitytest.User) identitytest.Tenant {
		e := newEnv(t, func(o *auth0test.Options, _ *Config) {
			au := auth0test.User{Name: u.Name, Password: u.Password}
			if u.Code {
				au.OTPSecret = otpSecret
			}
			au.Push = u.Push
			o.Users = []auth0test.User{au}
		})
		decide := func(f func(string) bool) func(string) {
			return func(user string) {
				if !f(user) {
					t.Errorf("no push of %s to decide", user)
				}
				e.advance(6 * time.Second)
			}
		}
		return identitytest.Tenant{
			Provider: e.p,
			Code:     func(string) string { return e.code() },
			Approve:  decide(e.tn.Approve),
			Deny:     decide(e.tn.Deny),
			Down:     e.tn.Close,
		}
	})
}

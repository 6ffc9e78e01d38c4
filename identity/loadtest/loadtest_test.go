package loadtest_test

import (
	"errors"
	"testing"

	"github.com/mfabridge/mfabridge/identity/identitytest"
	"github.com/mfabridge/mfabridge/identity/loadtest"
)

func TestConformance(t *testing.T) {
	identitytest.Conformance(t, func(t *testing.T, u identitytest.User) identitytest.Tenant {
		c := loadtest.Config{Password: u.Password, Users: []string{u.Name}, Factor: loadtest.FactorCode, Code: "424242"}
		switch {
		case u.Unenrolled:
			c.Factor = loadtest.FactorUnenrolled
		case u.Push:
			c.Factor = loadtest.FactorPush
		}
		p, err := c.Open("lab")
		if err != nil {
			t.Fatal(err)
		}
		return identitytest.Tenant{
			Provider: p,
			Code:     func(string) string { return "424242" },
			Approve:  p.Approve,
			Deny:     p.Deny,
			Down:     func() { p.Fail(errors.New("connection refused")) },
		}
	})
}

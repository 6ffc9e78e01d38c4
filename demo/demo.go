// Package demo runs mfabridge's built-in demo: an emulated CyberArk
// Identity tenant with a few users whose factors are documented, and the
// configuration of a bridge in front of it.
package demo

import (
	_ "embed"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity/auth0"
	"github.com/mfabridge/mfabridge/identity/auth0/auth0test"
	"github.com/mfabridge/mfabridge/identity/cyberark"
	"github.com/mfabridge/mfabridge/identity/cyberark/cyberarktest"
)

//go:embed demo.conf
var configTemplate string

//go:embed demo-auth0.conf
var auth0Template string

// Secret is the demo NAS's shared secret.
const Secret = "testing123"

// OATHSecret is alice's TOTP secret (base32), to add to an authenticator app.
const OATHSecret = "JBSWY3DPEHPK3PXP"

// PushDelay is how long after a push starts the demo tenant approves it.
const PushDelay = 3 * time.Second

// Users are the demo tenant's users.
var Users = []cyberarktest.User{
	{
		Name: "alice", Password: "alice-password", DisplayName: "Alice Example",
		Factors:     []cyberarktest.Factor{cyberarktest.OATH, cyberarktest.SMS, cyberarktest.Push},
		OATHSecret:  OATHSecret,
		AutoApprove: PushDelay,
		Roles:       []string{"VPN Users"},
	},
	{
		Name: "bob", Password: "bob-password", DisplayName: "Bob Example",
		Factors:     []cyberarktest.Factor{cyberarktest.Push},
		AutoApprove: PushDelay,
		Roles:       []string{"VPN Users", "Network Admins"},
	},
	{
		// carol approves late: after the NAS's time, so that mfabridge's
		// switch from a held push to "approve, then press Enter" shows.
		Name: "carol", Password: "carol-password", DisplayName: "Carol Example",
		Factors:     []cyberarktest.Factor{cyberarktest.Push},
		AutoApprove: SlowPushDelay,
		Roles:       []string{"VPN Users"},
	},
}

// SlowPushDelay is how long after a push starts the demo approves carol's.
const SlowPushDelay = 25 * time.Second

// Auth0Users are the demo's Auth0 tenant's users: the same people.
var Auth0Users = []auth0test.User{
	{Name: "alice", Password: "alice-password", OTPSecret: OATHSecret, SMS: "XXXXXXXX1234", Push: true, AutoApprove: PushDelay, Roles: []string{"VPN Users"}},
	{Name: "bob", Password: "bob-password", Push: true, AutoApprove: PushDelay, Roles: []string{"VPN Users", "Network Admins"}},
	{Name: "carol", Password: "carol-password", Push: true, AutoApprove: SlowPushDelay, Roles: []string{"VPN Users"}},
}

// Demo is a running demo tenant and the bridge configuration for it.
type Demo struct {
	// Tenant is the emulated CyberArk tenant (provider "cyberark").
	Tenant *cyberarktest.Tenant
	// Auth0 is the emulated Auth0 tenant (provider "auth0").
	Auth0  *auth0test.Tenant
	Config *config.Config
	// ConfigText is the configuration file the demo runs with, and
	// ConfigPath where it is.
	ConfigText string
	ConfigPath string
	dir        string
}

// Options configures the demo.
type Options struct {
	// Listen is the bridge's address. Default 127.0.0.1:1812.
	Listen string
	// LogLevel is the bridge's log level. Default "info".
	LogLevel string
	// Provider is "cyberark" (default) or "auth0".
	Provider string
	// ExtraUsers are added to Users (tests use them for other factors).
	ExtraUsers []cyberarktest.User
	// Phone receives the texts the demo tenant "sends" (SMS codes, pushes),
	// as a phone would show them. Default: standard error.
	Phone io.Writer
}

// Start starts the demo tenant and returns the configuration.
func Start(o Options) (*Demo, error) {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:1812"
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	if o.Phone == nil {
		o.Phone = os.Stderr
	}
	// Codes and pushes arrive from the tenant's goroutines.
	o.Phone = &lockedWriter{w: o.Phone}
	dir, err := os.MkdirTemp("", "mfabridge-demo-")
	if err != nil {
		return nil, err
	}
	d := &Demo{dir: dir}
	var url, template string
	var cert []byte
	switch o.Provider {
	case "", cyberark.TypeName:
		d.Tenant = cyberarktest.New(cyberarktest.Options{
			TenantID: "DEMO123",
			// The service account the demo uses to look up roles.
			Apps:  []cyberarktest.App{{ID: "mfabridge", ClientID: "mfabridge-svc@demo", ClientSecret: "demo-service-secret", Scope: "radius"}},
			Users: append(append([]cyberarktest.User(nil), Users...), o.ExtraUsers...),
			OnCode: func(user string, f cyberarktest.Factor, code string) {
				fmt.Fprintf(o.Phone, "[demo phone of %s] %s: your code is %s\n", user, f, code)
			},
			OnPush: func(user string, f cyberarktest.Factor, number string) {
				delay := PushDelay
				if user == "carol" {
					delay = SlowPushDelay
				}
				fmt.Fprintf(o.Phone, "[demo phone of %s] sign-in request; the demo approves it in %v\n", user, delay)
			},
		})
		url, cert, template = d.Tenant.URL, d.Tenant.Certificate(), configTemplate
	case auth0.TypeName:
		d.Auth0 = auth0test.New(auth0test.Options{
			ClientID: Auth0ClientID, ClientSecret: Auth0ClientSecret, Users: Auth0Users,
			RolesClaim: "https://mfabridge.example/roles",
			OnCode: func(user, channel, code string) {
				fmt.Fprintf(o.Phone, "[demo phone of %s] %s: your code is %s\n", user, channel, code)
			},
			OnPush: func(user string) {
				delay := PushDelay
				if user == "carol" {
					delay = SlowPushDelay
				}
				fmt.Fprintf(o.Phone, "[demo phone of %s] Guardian sign-in request; the demo approves it in %v\n", user, delay)
			},
		})
		url, cert, template = d.Auth0.URL, d.Auth0.Certificate(), auth0Template
	default:
		os.RemoveAll(dir)
		return nil, fmt.Errorf("demo: provider %q is not \"cyberark\" or \"auth0\"", o.Provider)
	}
	ca := filepath.Join(dir, "tenant-ca.pem")
	if err := os.WriteFile(ca, cert, 0o600); err != nil {
		d.Close()
		return nil, err
	}
	d.ConfigText = strings.NewReplacer(
		"{{LISTEN}}", o.Listen, "{{LEVEL}}", o.LogLevel, "{{URL}}", url, "{{CA}}", ca,
	).Replace(template)
	file := filepath.Join(dir, "radius.conf")
	if err := os.WriteFile(file, []byte(d.ConfigText), 0o600); err != nil {
		d.Close()
		return nil, err
	}
	d.ConfigPath = file
	d.Config, err = config.Load(file)
	if err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Close stops the tenant and removes the demo's files.
func (d *Demo) Close() {
	if d.Tenant != nil {
		d.Tenant.Close()
	}
	if d.Auth0 != nil {
		d.Auth0.Close()
	}
	os.RemoveAll(d.dir)
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// The demo Auth0 application's credentials.
const (
	Auth0ClientID     = "mfabridge-demo"
	Auth0ClientSecret = "demo-client-secret"
)

// Welcome is what a newcomer needs to try the demo at addr.
func Welcome(addr string) string {
	return welcome(addr, "CyberArk Identity")
}

// WelcomeAuth0 is Welcome for the Auth0 demo.
func WelcomeAuth0(addr string) string {
	return welcome(addr, "Auth0")
}

func welcome(addr, tenant string) string {
	host, port := addr, "1812"
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		host, port = addr[:i], addr[i+1:]
	}
	return fmt.Sprintf(`mfabridge demo: RADIUS on %[1]s, shared secret %[2]q, in front of an
emulated %[7]s tenant in this process.

Users:
  alice / alice-password  then a menu of: an authenticator app code (TOTP
                          secret %[3]s), SMS (the code appears below, as on
                          her phone), push (approved %[4]v after it is sent)
  bob   / bob-password    push only: the request is held until it is approved
                          (or type the factor after the password:
                          bob-password,push)
  carol / carol-password  push approved only after %[8]v: longer than radtest
                          waits (15s), so mfabridge answers in time with
                          "approve, then press Enter" on the same push

Try it (FreeRADIUS utilities, Debian package freeradius-utils):
  radtest bob bob-password %[5]s:%[6]s 0 %[2]s
  echo 'User-Name=alice,User-Password=alice-password' | radclient -x %[5]s:%[6]s auth %[2]s
then answer the challenge with its State (see README.md, "Try the demo").
`, addr, Secret, OATHSecret, PushDelay, host, port, tenant, SlowPushDelay)
}

package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/identity/cyberark"
	"github.com/mfabridge/mfabridge/identity/loadtest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.err from the current output")

// TestInvalidConfigs checks each testdata/*.conf but valid.conf against the
// exact error in its .err file.
func TestInvalidConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.conf")
	for _, f := range files {
		if filepath.Base(f) == "valid.conf" {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := Load(f)
			if err == nil {
				t.Fatal("loaded without an error")
			}
			golden := strings.TrimSuffix(f, ".conf") + ".err"
			if *update {
				_ = os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644)
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if got := err.Error() + "\n"; got != string(want) {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestValidConfigDefaults(t *testing.T) {
	cfg, err := Load("testdata/valid.conf")
	if err != nil {
		t.Fatal(err)
	}
	cl := cfg.Clients[0]
	if cl.Provider != "corp" || cl.Push != "adaptive" || cl.PushWait.Duration != 25*time.Second || cl.NASWait.Duration != 10*time.Second || cl.UpstreamFailure != "reject" || !cl.MessageAuthenticatorRequired() {
		t.Errorf("client defaults: %+v", cl)
	}
	if len(cl.Prefixes) != 2 || cl.Prefixes[0].String() != "192.0.2.10/32" {
		t.Errorf("prefixes %v", cl.Prefixes)
	}
	if cfg.Sessions.TTL.Duration != 120*time.Second || cfg.Server.ReplyCache.Duration != 10*time.Second {
		t.Errorf("defaults: %+v %+v", cfg.Sessions, cfg.Server)
	}
	if len(cfg.Warnings()) != 0 {
		t.Errorf("warnings for a good config: %v", cfg.Warnings())
	}
}

func TestSecretsFromFileAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nas.secret"), []byte("from-a-file-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MFABRIDGE_TEST_SECRET", "from-the-environment-0123")
	src := `
[[provider]]
name = "corp"
url = "https://x.example"
mode = "ondemand"
app_id = "a"
client_id = "c"
client_secret_env = "MFABRIDGE_TEST_SECRET"
policy_modifier = "m"

[[client]]
name = "a"
address = ["192.0.2.1"]
secret_file = "nas.secret"
`
	cfg, err := Parse(filepath.Join(dir, "radius.conf"), src)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Clients[0].Secret != "from-a-file-0123456789" {
		t.Errorf("secret_file: %q", cfg.Clients[0].Secret)
	}
	if cc := cfg.Provider[0].Settings.(*cyberark.Config); cc.ClientSecret != "from-the-environment-0123" {
		t.Errorf("client_secret_env: %q", cc.ClientSecret)
	}
	// Problems never print a secret's value.
	_, err = Parse("radius.conf", strings.Replace(src, `secret_file = "nas.secret"`, `secret = "sh"`+"\n"+`secret_env = "X"`, 1))
	if err == nil || strings.Contains(err.Error(), `"sh"`) || !strings.Contains(err.Error(), "set only one of secret, secret_file and secret_env") {
		t.Fatalf("error: %v", err)
	}
}

func TestWarnings(t *testing.T) {
	f := false
	cfg := &Config{Clients: []Client{{Name: "old", Secret: "short", RequireMessageAuthenticator: &f}}}
	w := strings.Join(cfg.Warnings(), "\n")
	if !strings.Contains(w, "5 bytes") || !strings.Contains(w, "BlastRADIUS") {
		t.Fatalf("warnings: %s", w)
	}
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

func TestMapUser(t *testing.T) {
	for _, tc := range []struct {
		c    Client
		in   string
		want string
	}{
		{Client{}, `CORP\Alice`, `CORP\Alice`},
		{Client{StripDomain: true}, `CORP\Alice`, "Alice"},
		{Client{StripRealm: true}, "alice@corp.example", "alice"},
		{Client{StripDomain: true, StripRealm: true, LoginSuffix: "@example.com", Lowercase: true}, `CORP\Alice@realm`, "alice@example.com"},
		{Client{LoginSuffix: "@example.com"}, "bob@other.example", "bob@other.example"},
		{Client{StripRealm: true}, "@odd", "@odd"},
	} {
		if got := tc.c.MapUser(tc.in); got != tc.want {
			t.Errorf("%+v MapUser(%q) = %q, want %q", tc.c, tc.in, got, tc.want)
		}
	}
}

func TestEmptySecretEnvAndReadableSecretFile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "radius-secret")
	if err := os.WriteFile(secret, []byte("a-long-random-shared-secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MFABRIDGE_TEST_EMPTY", "")
	src := `[[provider]]
name = "corp"
type = "auth0"
url = "https://example.eu.auth0.com"
client_id = "x"
client_secret_env = "MFABRIDGE_TEST_EMPTY"
realm = "Username-Password-Authentication"

[[client]]
name = "vpn"
address = ["192.0.2.10"]
secret_file = "radius-secret"
`
	_, err := Parse(filepath.Join(dir, "radius.conf"), src)
	if err == nil || !strings.Contains(err.Error(), ":6: provider[0].client_secret_env: the environment variable MFABRIDGE_TEST_EMPTY is empty") {
		t.Fatalf("an empty client_secret_env: %v", err)
	}
	cfg, err := Parse(filepath.Join(dir, "radius.conf"), strings.Replace(src, `client_secret_env = "MFABRIDGE_TEST_EMPTY"`, `client_secret = "s3cret-value"`, 1))
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(cfg.Warnings(), "\n"); !strings.Contains(w, "can be read by every user of this host") {
		t.Fatalf("no warning for a world-readable secret file: %q", w)
	}
}

// TestProblemsAreTheSameEveryRun: every type error, in file order, the
// same on every run (the TOML decoder alone reports one, picked at random).
func TestProblemsAreTheSameEveryRun(t *testing.T) {
	_, first := Load("testdata/type_errors.conf")
	if first == nil || strings.Count(first.Error(), "\n") != 5 {
		t.Fatalf("want six problems:\n%v", first)
	}
	for i := 0; i < 30; i++ {
		if _, err := Load("testdata/type_errors.conf"); err == nil || err.Error() != first.Error() {
			t.Fatalf("run %d differs:\n%v\nfirst:\n%v", i, err, first)
		}
	}
	if strings.Contains(first.Error(), "toml:") {
		t.Fatalf("a raw decoder message:\n%v", first)
	}
}

// TestPathsAreRelativeToTheFile: ca_file, like secret_file, is taken from
// the configuration file's directory, and $CREDENTIALS_DIRECTORY works in
// both (the systemd credentials recipe).
func TestPathsAreRelativeToTheFile(t *testing.T) {
	dir := t.TempDir()
	creds := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tenant-ca.pem"), []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(creds, "vpn.secret"), []byte("a-long-random-shared-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	src := `[[provider]]
name = "corp"
url = "https://abc1234.id.cyberark.cloud"
ca_file = "tenant-ca.pem"

[[client]]
name = "vpn"
address = ["192.0.2.10"]
secret_file = "$CREDENTIALS_DIRECTORY/vpn.secret"
`
	t.Chdir(t.TempDir()) // somewhere else
	cfg, err := Parse(filepath.Join(dir, "radius.conf"), src)
	if err != nil {
		t.Fatal(err)
	}
	if cc := cfg.Provider[0].Settings.(*cyberark.Config); cc.CAFile != filepath.Join(dir, "tenant-ca.pem") || cfg.Clients[0].Secret != "a-long-random-shared-secret" {
		t.Fatalf("ca_file %q, secret read: %v", cc.CAFile, cfg.Clients[0].Secret != "")
	}
}

// TestProviderTypesDecodeTheirOwnKeys: a [[provider]] block's keys go to
// its type's settings, with the file's secret and path rules.
func TestProviderTypesDecodeTheirOwnKeys(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "lab.pw"), []byte("lab-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(filepath.Join(dir, "radius.conf"), `
[[provider]]
name = "lab"
type = "loadtest"
password_file = "lab.pw"
factor = "push"
push_after = "2s"
users = ["alice"]

[[provider]]
name = "corp"
url = "https://abc1234.id.cyberark.cloud"
timeout = "3s"
max_connections = 32
poll_rate = 2000

[[client]]
name = "vpn"
address = ["192.0.2.10"]
secret = "a-long-random-shared-secret"
provider = "lab"
`)
	if err != nil {
		t.Fatal(err)
	}
	lc, ok := cfg.Provider[0].Settings.(*loadtest.Config)
	if !ok || lc.Password != "lab-password" || lc.Factor != loadtest.FactorPush || lc.PushAfter != 2*time.Second || len(lc.Users) != 1 {
		t.Fatalf("loadtest settings: %+v", cfg.Provider[0].Settings)
	}
	if cfg.Provider[0].PollRate != DefaultPollRate || cfg.Provider[1].PollRate != 2000 {
		t.Fatalf("poll_rate: %d and %d, want the default %d and 2000", cfg.Provider[0].PollRate, cfg.Provider[1].PollRate, DefaultPollRate)
	}
	if cc, ok := cfg.Provider[1].Settings.(*cyberark.Config); !ok || cc.Timeout != 3*time.Second || cc.MaxConnections != 32 || cfg.Provider[1].Type != "cyberark" {
		t.Fatalf("default type: %s %+v", cfg.Provider[1].Type, cfg.Provider[1].Settings)
	}
}

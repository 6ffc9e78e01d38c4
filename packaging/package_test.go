package packaging

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// need returns the path of a program; outside CI a missing one skips the
// test, in CI it fails it.
func need(t *testing.T, program, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (Debian package %s); .ci/run must install it", program, pkg)
	}
	t.Skipf("%s is not installed (Debian package %s): run 'make test'", program, pkg)
	return ""
}

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// buildDeb runs `make package` with version v and returns the .deb's path.
func buildDeb(t *testing.T, v string) string {
	t.Helper()
	run(t, "..", "make", "package", "PKG_VERSION="+v)
	debs, _ := filepath.Glob(filepath.Join("..", "dist", "mfabridge_"+v+"-1_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("no .deb for %s in dist/", v)
	}
	rpms, _ := filepath.Glob(filepath.Join("..", "dist", "mfabridge-"+v+"-1.*.rpm"))
	if len(rpms) != 1 {
		t.Fatalf("no .rpm for %s in dist/", v)
	}
	return debs[0]
}

// debianRoot makes a minimal Debian 12 root with debootstrap, with the
// packages of include besides, kept as a tarball in /var/cache so that
// later runs on the same machine unpack it.
func debianRoot(t *testing.T, include ...string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	name := "minbase"
	if len(include) > 0 {
		name += "+" + strings.Join(include, "+")
	}
	cache := "/var/cache/mfabridge-tests/bookworm-" + name + ".tar"
	if _, err := os.Stat(cache); err == nil {
		_ = os.MkdirAll(root, 0o755)
		run(t, ".", "tar", "-xpf", cache, "-C", root)
		return root
	}
	args := []string{"--variant=minbase"}
	if len(include) > 0 {
		args = append(args, "--include="+strings.Join(include, ","))
	}
	run(t, ".", need(t, "debootstrap", "debootstrap"), append(args, "bookworm", root, "http://deb.debian.org/debian")...)
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err == nil {
		run(t, ".", "tar", "-cpf", cache+".tmp", "-C", root, ".")
		_ = os.Rename(cache+".tmp", cache)
	}
	return root
}

// asRoot skips the test outside CI when it does not run as root (what it
// does needs root), and fails it in CI.
func asRoot(t *testing.T, what string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("the package test %s and must run as root in CI", what)
	}
	t.Skipf("the package test %s: run it as root", what)
}

// installDeb copies deb into root and installs it there with dpkg.
func installDeb(t *testing.T, root, deb string) string {
	t.Helper()
	data, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "tmp", "mfabridge.deb"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return chroot(t, root, "dpkg", "-i", "/tmp/mfabridge.deb")
}

func chroot(t *testing.T, root string, args ...string) string {
	t.Helper()
	return run(t, ".", "chroot", append([]string{root}, args...)...)
}

func stat(t *testing.T, root, path string) (mode os.FileMode, uid, gid int) {
	t.Helper()
	out := chroot(t, root, "stat", "-c", "%a %u %g", path)
	var m uint32
	if _, err := fmt.Sscanf(out, "%o %d %d", &m, &uid, &gid); err != nil {
		t.Fatalf("stat %s: %q", path, out)
	}
	return os.FileMode(m), uid, gid
}

// TestDebInstallsIntoCleanDebian installs the package into a fresh Debian
// 12 root, checks its files, user and modes, upgrades it with a changed
// configuration, and removes and purges it.
func TestDebInstallsIntoCleanDebian(t *testing.T) {
	asRoot(t, "uses chroot")
	need(t, "debootstrap", "debootstrap")
	need(t, "dpkg-deb", "dpkg")
	first := buildDeb(t, "0.1.0~test1")
	second := buildDeb(t, "0.1.0~test2")
	root := debianRoot(t)

	install := func(deb string) string {
		t.Helper()
		return installDeb(t, root, deb)
	}
	out := install(first)
	if !strings.Contains(out, "edit /etc/mfabridge/radius.conf") {
		t.Errorf("no first-install note:\n%s", out)
	}

	passwd := chroot(t, root, "getent", "passwd", "mfabridge")
	if !strings.Contains(passwd, ":/nonexistent:/usr/sbin/nologin") {
		t.Fatalf("system user: %q", passwd)
	}
	var gid int
	if _, err := fmt.Sscanf(strings.Split(chroot(t, root, "getent", "group", "mfabridge"), ":")[2], "%d", &gid); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
		gid  int
	}{
		{"/usr/bin/mfabridge", 0o755, 0},
		{"/etc/mfabridge", 0o750, gid},
		{"/etc/mfabridge/radius.conf", 0o640, gid},
		{"/lib/systemd/system/mfabridge.service", 0o644, 0},
		{"/lib/systemd/system/mfabridge.socket", 0o644, 0},
		{"/usr/share/man/man8/mfabridge.8", 0o644, 0},
		{"/usr/share/doc/mfabridge/operations.md", 0o644, 0},
	} {
		mode, uid, g := stat(t, root, f.path)
		if mode != f.mode || uid != 0 || g != f.gid {
			t.Errorf("%s: mode %o uid %d gid %d, want %o 0 %d", f.path, mode, uid, g, f.mode, f.gid)
		}
	}
	// As shipped, the configuration is the short one and is refused until
	// its placeholders are set: a fresh install never listens as shipped.
	conf := filepath.Join(root, "etc/mfabridge/radius.conf")
	shipped, _ := os.ReadFile(conf)
	if want, _ := os.ReadFile("radius.conf"); string(shipped) != string(want) {
		t.Errorf("the installed configuration is not packaging/radius.conf")
	}
	cmd := exec.Command("chroot", root, "/usr/bin/mfabridge", "check-config", "--config", "/etc/mfabridge/radius.conf")
	out2, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); err == nil || code != 78 || !strings.Contains(string(out2), "is the shipped placeholder") {
		t.Errorf("check-config of the shipped configuration: exit %d\n%s", code, out2)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/share/doc/mfabridge/radius.conf.example")); err != nil {
		t.Errorf("the annotated example is not installed: %v", err)
	}

	// The admin sets the values; then it is valid.
	edited := strings.NewReplacer(`"https://CHANGE-ME.id.cyberark.cloud"`, `"https://abc1234.id.cyberark.cloud"`, `secret = "CHANGE-ME"`, `secret = "a-long-random-shared-secret"`).Replace(string(shipped))
	if err := os.WriteFile(conf, []byte(edited+"# changed by the admin\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if out := chroot(t, root, "/usr/bin/mfabridge", "check-config", "--config", "/etc/mfabridge/radius.conf"); !strings.Contains(out, "valid") {
		t.Errorf("check-config of the edited configuration: %s", out)
	}

	// Upgrade, non-interactively (no terminal, standard input closed): it
	// asks nothing and keeps the admin's configuration.
	install(second)
	if st := chroot(t, root, "dpkg-query", "-W", "-f", "${Status}", "mfabridge"); st != "install ok installed" {
		t.Fatalf("after a non-interactive upgrade: %q", st)
	}
	if v := chroot(t, root, "dpkg-query", "-W", "-f", "${Version}", "mfabridge"); v != "0.1.0~test2-1" {
		t.Fatalf("version after upgrade: %q", v)
	}
	if b, _ := os.ReadFile(conf); !strings.Contains(string(b), "# changed by the admin") {
		t.Fatal("the upgrade replaced the admin's configuration")
	}

	// Remove keeps the configuration; purge removes it; the user stays.
	chroot(t, root, "dpkg", "-r", "mfabridge")
	if _, err := os.Stat(filepath.Join(root, "usr/bin/mfabridge")); err == nil {
		t.Error("the binary is still there after remove")
	}
	if _, err := os.Stat(conf); err != nil {
		t.Error("remove deleted the configuration")
	}
	chroot(t, root, "dpkg", "--purge", "mfabridge")
	if _, err := os.Stat(filepath.Join(root, "etc/mfabridge")); err == nil {
		t.Error("purge left /etc/mfabridge")
	}
}

// TestUnitsVerify runs systemd-analyze verify on the units, with the
// binary path pointed at a freshly built mfabridge.
func TestUnitsVerify(t *testing.T) {
	sa := need(t, "systemd-analyze", "systemd")
	dir := t.TempDir()
	bin := filepath.Join(dir, "mfabridge")
	run(t, "..", "go", "build", "-o", bin, "./cmd/mfabridge")
	for _, unit := range []string{"mfabridge.service", "mfabridge.socket"} {
		b, err := os.ReadFile(filepath.Join("..", "systemd", unit))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(b), "/usr/bin/mfabridge", bin)
		if err := os.WriteFile(filepath.Join(dir, unit), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(sa, "verify", "--man=no", filepath.Join(dir, "mfabridge.service"), filepath.Join(dir, "mfabridge.socket"))
	out, err := cmd.CombinedOutput()
	// verify also loads the machine's other units and may warn about
	// them; only what it says of ours counts.
	var ours []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "mfabridge") {
			ours = append(ours, line)
		}
	}
	if err != nil || len(ours) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

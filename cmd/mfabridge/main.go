// Command mfabridge is a RADIUS server that puts cloud MFA (CyberArk
// Identity) in front of VPN concentrators, firewalls, switches and Linux
// hosts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/demo"
	"github.com/mfabridge/mfabridge/identity/auth0"
	"github.com/mfabridge/mfabridge/identity/cyberark"
	"github.com/mfabridge/mfabridge/internal/daemon"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `Usage: mfabridge <command> [flags]

Commands:
  serve --config FILE         run the RADIUS server
  check-config --config FILE  check a configuration file and exit (0 when valid)
  doctor --config FILE        check the set-up: reach each identity provider and
                              try its credentials, and check each NAS entry
  ctl <command>               ask or tell the running daemon: status, lockouts,
                              unlock USER, sessions, log-level LEVEL
  trace --user U | --nas N    follow logins live: packets, provider steps, replies
  demo [--listen ADDR] [--provider auth0]
                              run on a built-in emulated tenant (try it in a minute)
  test [--server ADDR] ...    act like a NAS: log in through a running mfabridge
  policy <command> ...        set up the challenge policy of the on-demand mode
  version                     print the version

Run 'mfabridge <command> -h' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[1] {
	case "serve":
		return serve(ctx, args[2:], stderr)
	case "check-config":
		return checkConfig(args[2:], stdout, stderr)
	case "doctor":
		return runDoctor(ctx, args[2:], stdout, stderr)
	case "ctl":
		return runCtl(args[2:], stdout, stderr)
	case "trace":
		return runTrace(ctx, args[2:], stdout, stderr)
	case "demo":
		return runDemo(ctx, args[2:], stdout, stderr)
	case "test":
		return runTest(ctx, args[2:], stdin, stdout, stderr)
	case "policy":
		return runPolicy(ctx, args[2:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "mfabridge %s\n", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "mfabridge: unknown command %q\n\n%s", args[1], usage)
	return 2
}

func configFlag(name string, args []string, stderr io.Writer) (string, int) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/mfabridge/radius.conf", "the configuration file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", 0
		}
		return "", 2
	}
	return *path, -1
}

func checkConfig(args []string, stdout, stderr io.Writer) int {
	_, code := loadChecked("check-config", args, stdout, stderr)
	return max(code, 0)
}

// loadChecked reads the --config file of command name, prints its
// problems (returning config.ExitConfig) or its warnings and that it is
// valid (returning -1 with the configuration).
func loadChecked(name string, args []string, stdout, stderr io.Writer) (*config.Config, int) {
	path, code := configFlag(name, args, stderr)
	if code >= 0 {
		return nil, code
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, config.ExitConfig
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stderr, "%s: warning: %s\n", path, w)
	}
	fmt.Fprintf(stdout, "%s: valid (%d clients, %d providers)\n", path, len(cfg.Clients), len(cfg.Provider))
	return cfg, -1
}

func serve(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/mfabridge/radius.conf", "the configuration file")
	ctl := fs.String("control", "", "the control socket for mfabridge ctl and trace (the packaged unit: "+defaultControl+")")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := daemon.Serve(ctx, daemon.ServeOptions{ConfigPath: *path, Version: version, Log: stderr, ControlSocket: *ctl}); err != nil {
		fmt.Fprintf(stderr, "mfabridge: %v\n", err)
		if errors.Is(err, config.ErrConfig) {
			// Not restarted by systemd (RestartPreventExitStatus): the
			// problems above stay in `systemctl status`.
			return config.ExitConfig
		}
		return 1
	}
	return 0
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:1812", "the RADIUS address to serve on")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	printConfig := fs.Bool("print-config", false, "print the demo's configuration file and exit")
	provider := fs.String("provider", cyberark.TypeName, "the emulated tenant: "+cyberark.TypeName+" or "+auth0.TypeName)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	d, err := demo.Start(demo.Options{Listen: *listen, LogLevel: *level, Phone: stdout, Provider: *provider})
	if err != nil {
		fmt.Fprintf(stderr, "mfabridge demo: %v\n", err)
		return 1
	}
	defer d.Close()
	if *printConfig {
		fmt.Fprintln(stdout, "# The demo's configuration. Its tenant (url, ca_file) lives in the demo's own")
		fmt.Fprintln(stdout, "# process and is gone when this command exits: use this file as a model, or")
		fmt.Fprintln(stdout, "# run `mfabridge demo` and `mfabridge ctl --socket <its socket> status` to")
		fmt.Fprintln(stdout, "# see the file of a running demo.")
		fmt.Fprint(stdout, d.ConfigText)
		return 0
	}
	sock := filepath.Join(filepath.Dir(d.ConfigPath), "control.sock")
	err = daemon.Serve(ctx, daemon.ServeOptions{ConfigPath: d.ConfigPath, Version: version, Log: stderr, EndOnHangup: true, ControlSocket: sock, Ready: func(conns []net.PacketConn) {
		defer fmt.Fprintf(stdout, "Watch a login live: mfabridge trace --socket %s --user alice\n", sock)
		if *provider == auth0.TypeName {
			fmt.Fprintln(stdout, demo.WelcomeAuth0(conns[0].LocalAddr().String()))
			return
		}
		fmt.Fprintln(stdout, demo.Welcome(conns[0].LocalAddr().String()))
	}})
	if err != nil {
		fmt.Fprintf(stderr, "mfabridge demo: %v\n", err)
		if errors.Is(err, syscall.EADDRINUSE) {
			fmt.Fprintf(stderr, "mfabridge demo: %s is taken; run the demo on another address: mfabridge demo --listen 127.0.0.1:11812\n", *listen)
		}
		return 1
	}
	return 0
}

package daemon

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/sirupsen/logrus"

	"github.com/mfabridge/mfabridge/bridge"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/internal/control"
	"github.com/mfabridge/mfabridge/metrics"
)

// ServeOptions configures Serve.
type ServeOptions struct {
	// ConfigPath is the configuration file; it is read again on SIGHUP.
	ConfigPath string
	// Version is reported in logs and metrics.
	Version string
	// Log receives the logs (standard error in production).
	Log io.Writer
	// Ready, when set, is called with the sockets once they serve.
	Ready func(conns []net.PacketConn)
	// ControlSocket, when set, is the Unix socket `mfabridge ctl` and
	// `mfabridge trace` use (mode 0660: root and the service's group).
	ControlSocket string
	// EndOnHangup stops on SIGHUP instead of reloading: a program run in a
	// terminal (the demo) ends when its terminal closes, and lets its port
	// go.
	EndOnHangup bool
}

// Serve runs mfabridge as a daemon until ctx is cancelled: it binds the
// RADIUS sockets (or takes them from systemd's socket activation), serves
// metrics when configured, tells systemd READY, pings the watchdog from a
// loop that proves the sockets answer, reloads the configuration on SIGHUP,
// and on stop (ctx) tells systemd STOPPING, stops reading and lets the
// requests in flight finish.
func Serve(ctx context.Context, o ServeOptions) error {
	cfg, err := config.Load(o.ConfigPath)
	if err != nil {
		return err
	}
	log := NewLogger(cfg, o.Log)
	var srv *bridge.Server
	m := metrics.New(o.Version, func() metrics.Source {
		if srv == nil {
			return nil
		}
		return srv
	})
	watch := &Observer{Call: m.ObserveUpstream, Connections: m.UpstreamConnections}
	srv, err = NewObservedServer(cfg, log, watch, m)
	if err != nil {
		return err
	}
	conns, err := sockets(cfg, log)
	if err != nil {
		return err
	}
	acct, err := accountingSockets(cfg, conns)
	if err != nil {
		for _, c := range conns {
			c.Close()
		}
		return err
	}
	srv.ServeAccounting(acct)
	for _, c := range acct {
		if !slices.Contains(conns, c) {
			conns = append(conns, c)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	if cfg.Metrics.Enabled {
		l, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return fmt.Errorf("metrics: cannot listen on %s: %w", cfg.Metrics.Listen, err)
		}
		log.WithField("addr", l.Addr().String()).Info("serving metrics on /metrics, health on /healthz and /readyz")
		go func() {
			if err := m.Serve(ctx, l); err != nil {
				log.WithError(err).Error("metrics endpoint stopped")
			}
		}()
	}

	st := &daemonState{version: o.Version, configPath: o.ConfigPath, started: time.Now()}
	certs := &tlsHolder{}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if o.EndOnHangup {
					log.Info("hangup: stopping")
					cancel()
					return
				}
				reload(srv, o.ConfigPath, log, m, st)
				if rc := srv.Config(); len(rc.RadSec.Listen) > 0 || len(rc.RadSec.DTLSListen) > 0 {
					// New certificates for new connections; open ones stay.
					if err := certs.load(&rc.RadSec); err != nil {
						log.WithError(err).Error("RadSec certificates not reloaded; the old ones stay in force")
					}
				}
			}
		}
	}()

	if err := listenStreams(ctx, cfg, srv, certs, log); err != nil {
		for _, c := range conns {
			c.Close()
		}
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeConns(ctx, conns) }()
	for _, c := range conns {
		log.WithFields(logrus.Fields{"addr": c.LocalAddr().String(), "version": o.Version}).Info("listening for RADIUS")
	}
	if o.Ready != nil {
		o.Ready(conns)
	}
	notify(log, daemon.SdNotifyReady)
	go watchdog(ctx, srv, log)
	go probeLoop(ctx, srv.Providers, func(results []ProbeResult) {
		st.probed(results)
		for _, r := range results {
			if !r.Skipped {
				m.ProviderProbed(r.Provider, r.Err)
			}
		}
	}, log)
	if o.ControlSocket != "" {
		go func() {
			if err := control.Serve(ctx, o.ControlSocket, controlHandler(srv, log, st)); err != nil {
				log.WithError(err).WithField("socket", o.ControlSocket).Warn("runtime control (mfabridge ctl, trace) not available")
			}
		}()
	}

	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	notify(log, daemon.SdNotifyStopping)
	log.WithField("in_flight", srv.InFlight()).Info("stopping: no new requests; letting those in flight finish")
	err = <-done
	log.Info("stopped")
	return err
}

func notify(log logrus.FieldLogger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.WithError(err).Warn("cannot notify systemd")
	}
}

// sockets returns the sockets systemd passed (socket activation), or binds
// server.listen.
func sockets(cfg *config.Config, log logrus.FieldLogger) ([]net.PacketConn, error) {
	inherited, err := activation.PacketConns()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	var conns []net.PacketConn
	for _, c := range inherited {
		if c != nil {
			conns = append(conns, c)
		}
	}
	if len(conns) > 0 {
		log.WithField("sockets", len(conns)).Info("using the sockets systemd passed (socket activation); server.listen is not used")
		return conns, nil
	}
	for _, addr := range cfg.Server.Listen {
		network := "udp4"
		if strings.HasPrefix(addr, "[") {
			network = "udp6"
		}
		c, err := net.ListenPacket(network, addr)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, fmt.Errorf("cannot listen on %s: %w (is another RADIUS server running?)", addr, err)
		}
		conns = append(conns, c)
	}
	return conns, nil
}

// accountingSockets binds server.accounting_listen, but for the addresses
// systemd already passed (socket activation with a 1813 socket).
func accountingSockets(cfg *config.Config, have []net.PacketConn) ([]net.PacketConn, error) {
	var out []net.PacketConn
	for _, addr := range cfg.Server.AccountingListen {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			return nil, err
		}
		passed := false
		for _, c := range have {
			if u, ok := c.LocalAddr().(*net.UDPAddr); ok && u.AddrPort().Port() == ap.Port() {
				out, passed = append(out, c), true
			}
		}
		if passed {
			continue
		}
		network := "udp4"
		if ap.Addr().Is6() && !ap.Addr().Is4In6() {
			network = "udp6"
		}
		c, err := net.ListenPacket(network, addr)
		if err != nil {
			for _, c := range out {
				c.Close()
			}
			return nil, fmt.Errorf("accounting: cannot listen on %s: %w (is another RADIUS server running?)", addr, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// watchdog pings systemd's watchdog, from a loop that first proves the
// server still answers (srv.Check); a server that stops answering is not
// pinged, and systemd restarts it.
func watchdog(ctx context.Context, srv *bridge.Server, log logrus.FieldLogger) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := srv.Check(ctx); err != nil {
				log.WithError(err).Error("health check failed: not pinging the systemd watchdog")
				continue
			}
			notify(log, daemon.SdNotifyWatchdog)
		}
	}
}

// reload reads the configuration again and puts it in force if it is
// valid; otherwise the old one stays, and the log says why.
func reload(srv *bridge.Server, path string, log *logrus.Logger, m *metrics.Metrics, st *daemonState) {
	notify(log, daemon.SdNotifyReloading)
	defer notify(log, daemon.SdNotifyReady)
	cfg, err := config.Load(path)
	if err != nil {
		m.Reloaded(false)
		st.reloaded(false, err.Error())
		log.WithError(err).Error("configuration not reloaded: the file has problems; the old configuration stays in force")
		return
	}
	providers, err := OpenProviders(cfg, log, &Observer{Call: m.ObserveUpstream, Connections: m.UpstreamConnections})
	if err == nil {
		var restart []string
		restart, err = srv.Reload(cfg, providers)
		if err == nil {
			for _, w := range cfg.Warnings() {
				log.Warn(w)
			}
			SetLogFormat(log, cfg)
			m.Reloaded(true)
			l := log.WithField("file", path)
			if len(restart) > 0 {
				st.reloaded(true, "reloaded; needs a restart: "+strings.Join(restart, ", "))
				l = l.WithField("needs_restart", strings.Join(restart, ", "))
				l.Warn("configuration reloaded; some changes take effect only after a restart")
				return
			}
			st.reloaded(true, "reloaded")
			l.Info("configuration reloaded")
			return
		}
	}
	m.Reloaded(false)
	st.reloaded(false, err.Error())
	log.WithError(err).Error("configuration not reloaded; the old configuration stays in force")
}

package daemon

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/mfabridge/mfabridge/bridge"
	"github.com/mfabridge/mfabridge/internal/control"
)

// daemonState is what `mfabridge ctl status` reports.
type daemonState struct {
	mu         sync.Mutex
	version    string
	configPath string
	started    time.Time
	reloadedAt time.Time
	reloadOK   bool
	reloadMsg  string
	probes     []ProbeResult
}

func (d *daemonState) reloaded(ok bool, msg string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reloadedAt, d.reloadOK, d.reloadMsg = time.Now(), ok, msg
}

func (d *daemonState) probed(results []ProbeResult) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.probes = results
}

// controlHandler answers `mfabridge ctl` and `mfabridge trace`.
func controlHandler(srv *bridge.Server, log *logrus.Logger, st *daemonState) control.Handler {
	return func(ctx context.Context, req control.Request, w io.Writer) (any, error) {
		arg := func(i int) string {
			if i < len(req.Args) {
				return req.Args[i]
			}
			return ""
		}
		switch req.Cmd {
		case "status":
			st.mu.Lock()
			defer st.mu.Unlock()
			providers := map[string]string{}
			for _, r := range st.probes {
				switch {
				case r.Skipped:
					providers[r.Provider] = "not probed"
				case r.Err != nil:
					providers[r.Provider] = "FAILED: " + r.Err.Error()
				default:
					providers[r.Provider] = "ok"
				}
			}
			out := map[string]any{
				"version": st.version, "config": st.configPath, "log_level": log.GetLevel().String(),
				"started": st.started.Format(time.RFC3339), "sessions": srv.Sessions(), "in_flight": srv.InFlight(),
				"providers": providers,
			}
			if !st.reloadedAt.IsZero() {
				out["last_reload"] = map[string]any{"at": st.reloadedAt.Format(time.RFC3339), "ok": st.reloadOK, "result": st.reloadMsg}
			}
			return out, nil
		case "lockouts":
			return srv.Failures(ctx)
		case "unlock":
			if arg(0) == "" {
				return nil, fmt.Errorf("unlock: name the user")
			}
			if err := srv.ClearFailures(ctx, arg(0)); err != nil {
				return nil, err
			}
			log.WithField("user", arg(0)).Warn("failed logins and locks of the user cleared by an operator (mfabridge ctl unlock)")
			return map[string]string{"unlocked": arg(0)}, nil
		case "sessions":
			return srv.Conversations()
		case "log-level":
			lvl, err := logrus.ParseLevel(arg(0))
			if err != nil {
				return nil, fmt.Errorf("log-level: %q is not a level; use debug, info, warn or error", arg(0))
			}
			log.SetLevel(lvl)
			log.WithField("level", lvl.String()).Warn("log level set by an operator (mfabridge ctl log-level); a reload sets it back to [log] level")
			return map[string]string{"log_level": lvl.String()}, nil
		case "trace":
			lines := srv.Trace(ctx, arg(0), arg(1))
			for {
				select {
				case <-ctx.Done():
					return nil, nil
				case l := <-lines:
					if _, err := io.WriteString(w, l+"\n"); err != nil {
						return nil, nil
					}
				}
			}
		}
		return nil, fmt.Errorf("unknown command %q; see mfabridge ctl -h", req.Cmd)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mfabridge/mfabridge/bridge"
	"github.com/mfabridge/mfabridge/bridge/throttle"
	"github.com/mfabridge/mfabridge/internal/control"
)

// defaultControl is where the packaged unit has the daemon listen for ctl
// and trace (serve --control).
const defaultControl = "/run/mfabridge/control.sock"

const ctlUsage = `Usage: mfabridge ctl [--socket PATH] <command>

Commands (to the running daemon, over its control socket; root or the
mfabridge group):
  status               version, configuration file, last reload, providers
  lockouts             users, sources and stations with failed logins or locks
  unlock USER          forget USER's failed logins and locks
  sessions             conversations waiting at a challenge (user, NAS, age)
  log-level LEVEL      debug, info, warn or error, until the next reload
`

func runCtl(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, ctlUsage) }
	socket := fs.String("socket", defaultControl, "the daemon's control socket")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, ctlUsage)
		return 2
	}
	req := control.Request{Cmd: fs.Arg(0), Args: fs.Args()[1:]}
	data, err := control.Do(*socket, req)
	if err != nil {
		fmt.Fprintf(stderr, "mfabridge ctl: %v\n", err)
		return 1
	}
	if *asJSON {
		var b bytes.Buffer
		_ = json.Indent(&b, data, "", "  ")
		fmt.Fprintln(stdout, b.String())
		return 0
	}
	switch req.Cmd {
	case "lockouts":
		var recs []throttle.Record
		_ = json.Unmarshal(data, &recs)
		sort.Slice(recs, func(i, j int) bool {
			return recs[i].Kind+recs[i].User+recs[i].Source < recs[j].Kind+recs[j].User+recs[j].Source
		})
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tUSER\tSOURCE\tFAILURES\tLOCKED UNTIL")
		for _, r := range recs {
			locked := "-"
			if !r.Locked.IsZero() {
				locked = r.Locked.Local().Format("15:04:05")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", r.Kind, r.User, strings.ReplaceAll(r.Source, "\x00", " "), r.Failures, locked)
		}
		tw.Flush()
	case "sessions":
		var convs []bridge.Conversation
		_ = json.Unmarshal(data, &convs)
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tNAS\tWAITING FOR\tMECHANISM\tROUND\tAGE")
		for _, c := range convs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%v\n", c.User, c.NAS, c.Phase, c.Mechanism, c.Rounds, c.Age.Round(time.Second))
		}
		tw.Flush()
	default:
		var b bytes.Buffer
		_ = json.Indent(&b, data, "", "  ")
		fmt.Fprintln(stdout, b.String())
	}
	return 0
}

func runTrace(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", defaultControl, "the daemon's control socket")
	user := fs.String("user", "", "follow this user's logins (case does not matter)")
	nas := fs.String("nas", "", "follow the logins from this [[client]] (its name)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *user == "" && *nas == "" {
		fmt.Fprintln(stderr, "mfabridge trace: name --user or --nas (or both)")
		return 2
	}
	fmt.Fprintf(stderr, "tracing %s (Ctrl-C to stop)...\n", strings.TrimSpace("user "+*user+" nas "+*nas))
	if err := control.Stream(ctx, *socket, control.Request{Cmd: "trace", Args: []string{*user, *nas}}, stdout); err != nil {
		fmt.Fprintf(stderr, "mfabridge trace: %v\n", err)
		return 1
	}
	return 0
}

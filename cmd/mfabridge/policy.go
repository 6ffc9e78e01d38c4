package main

import (
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

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity/cyberark"
)

const policyUsage = `Usage: mfabridge policy <command> [flags]

Sets up the challenge policy the on-demand mode runs, with the service
account of a cyberark [[provider]] in the configuration (app_id, client_id,
client_secret). Every command takes --config FILE, --provider NAME and --json.

Commands:
  roles                     list the tenant's roles
  cloudgp                   show whether cloud mobile GP is in use
  list                      list the policies (policy links)
  show --policy PATH        show a policy: its profiles, modifiers and settings
  create --policy PATH --modifier NAME --profile UUID|NAME [--dry-run]
                            add a challenge policy (policy modifier) to the
                            policy, with that default authentication profile;
                            --dry-run prints the change only. Running it again
                            changes nothing.
`

// runPolicy is `mfabridge policy`.
func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, policyUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd := args[0]
	fs := flag.NewFlagSet("policy "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/mfabridge/radius.conf", "the configuration file")
	provider := fs.String("provider", "", "the cyberark [[provider]] to use (default: the first with a service account)")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	policy := fs.String("policy", "", "the policy's path, such as \"/Policy/Default Policy\"")
	modifier := fs.String("modifier", "", "the challenge policy's name (create)")
	profile := fs.String("profile", "", "the authentication profile's UUID or name (create)")
	dryRun := fs.Bool("dry-run", false, "print the change without making it (create)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	admin, err := openAdmin(*path, *provider)
	if err != nil {
		fmt.Fprintf(stderr, "mfabridge policy: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out := &printer{w: stdout, json: *asJSON}
	switch cmd {
	case "roles":
		roles, err := admin.Roles(ctx)
		if err != nil {
			return fail(stderr, err)
		}
		out.table(roles, []string{"NAME", "ID", "DESCRIPTION"}, func(row func(...string)) {
			for _, r := range roles {
				row(r.Name, r.ID, r.Description)
			}
		})
	case "cloudgp":
		gp, err := admin.CloudGP(ctx)
		if err != nil {
			return fail(stderr, err)
		}
		keys := sortedKeys(gp)
		out.table(gp, []string{"SETTING", "VALUE"}, func(row func(...string)) {
			for _, k := range keys {
				row(k, fmt.Sprint(gp[k]))
			}
		})
	case "list":
		pl, err := admin.Plinks(ctx)
		if err != nil {
			return fail(stderr, err)
		}
		out.table(pl.Rows, []string{"POLICY", "LINK TYPE", "PARAMS", "DESCRIPTION"}, func(row func(...string)) {
			for _, r := range pl.Rows {
				row(fmt.Sprint(r["ID"]), fmt.Sprint(r["LinkType"]), fmt.Sprint(r["Params"]), fmt.Sprint(r["Description"]))
			}
		})
	case "show":
		if *policy == "" {
			fmt.Fprintln(stderr, "mfabridge policy show: --policy is required (see `mfabridge policy list`)")
			return 2
		}
		b, err := admin.PolicyBlock(ctx, *policy)
		if err != nil {
			return fail(stderr, err)
		}
		if *asJSON {
			out.json1(b.Raw)
			break
		}
		fmt.Fprintf(stdout, "Policy %s (RevStamp %s)\n\nAuthentication profiles:\n", *policy, b.RevStamp())
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  NAME\tUUID\tCHALLENGES")
		for _, p := range b.Profiles() {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", p.Name, p.UUID, strings.Join(p.Challenges, " then "))
		}
		tw.Flush()
		fmt.Fprintf(stdout, "\nChallenge policies (modifiers): %s\n\nSettings:\n", strings.Join(b.Modifiers(), ", "))
		settings := b.Settings()
		tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		for _, k := range sortedKeys(settings) {
			v, _ := json.Marshal(settings[k])
			fmt.Fprintf(tw, "  %s\t%s\n", k, v)
		}
		tw.Flush()
	case "create":
		if *policy == "" || *modifier == "" || *profile == "" {
			fmt.Fprintln(stderr, "mfabridge policy create: --policy, --modifier and --profile are required")
			return 2
		}
		plan, err := admin.PlanChallengePolicy(ctx, *policy, *modifier, *profile)
		if err != nil {
			return fail(stderr, err)
		}
		if plan.Empty() {
			if *asJSON {
				out.json1(map[string]any{"changed": false, "plan": plan})
			} else {
				fmt.Fprintf(stdout, "Challenge policy %s in %s is already set up with profile %s: nothing to change.\n", plan.Modifier, plan.Policy, plan.Profile.Name)
			}
			return 0
		}
		if !*asJSON || *dryRun {
			printPlan(stdout, plan, *asJSON)
		}
		if *dryRun {
			return 0
		}
		rev, err := admin.Apply(ctx, plan)
		if err != nil {
			if errors.Is(err, cyberark.ErrConflict) {
				fmt.Fprintf(stderr, "mfabridge policy create: %v\n", err)
				return 3
			}
			return fail(stderr, err)
		}
		if *asJSON {
			out.json1(map[string]any{"changed": true, "rev_stamp": rev, "plan": plan})
		} else {
			fmt.Fprintf(stdout, "Saved (RevStamp %s). Set policy_modifier = %q and mode = \"ondemand\" in the [[provider]].\n", rev, plan.Modifier)
		}
	default:
		fmt.Fprintf(stderr, "mfabridge policy: unknown command %q\n\n%s", cmd, policyUsage)
		return 2
	}
	return 0
}

func printPlan(w io.Writer, plan *cyberark.ChallengePlan, asJSON bool) {
	if asJSON {
		(&printer{w: w, json: true}).json1(map[string]any{"dry_run": true, "plan": plan})
		return
	}
	fmt.Fprintf(w, "Challenge policy %s in %s, default profile %s (%s):\n", plan.Modifier, plan.Policy, plan.Profile.Name, plan.Profile.UUID)
	if plan.AddModifier {
		fmt.Fprintf(w, "+ policy modifier %s (AddAuthPolicyModifier)\n", plan.Modifier)
	}
	for _, c := range plan.Changes {
		nv, _ := json.Marshal(c.New)
		if c.Added {
			fmt.Fprintf(w, "+ %s: %s\n", c.Key, nv)
			continue
		}
		ov, _ := json.Marshal(c.Old)
		fmt.Fprintf(w, "~ %s: %s -> %s\n", c.Key, ov, nv)
	}
}

func fail(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "mfabridge policy: %v\n", err)
	return 1
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// openAdmin opens the administration client of a cyberark provider of the
// configuration.
func openAdmin(path, name string) (*cyberark.Admin, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	for i := range cfg.Provider {
		p := &cfg.Provider[i]
		cc, ok := p.Settings.(*cyberark.Config)
		if !ok || (name != "" && p.Name != name) || (name == "" && cc.ClientSecret == "") {
			continue
		}
		return cc.OpenAdmin()
	}
	if name != "" {
		return nil, fmt.Errorf("%s has no cyberark provider named %q", path, name)
	}
	return nil, fmt.Errorf("%s has no cyberark provider with a service account (app_id, client_id, client_secret)", path)
}

// printer prints a table, or JSON.
type printer struct {
	w    io.Writer
	json bool
}

func (p *printer) json1(v any) {
	enc := json.NewEncoder(p.w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (p *printer) table(v any, header []string, rows func(row func(...string))) {
	if p.json {
		p.json1(v)
		return
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	rows(func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) })
	tw.Flush()
}

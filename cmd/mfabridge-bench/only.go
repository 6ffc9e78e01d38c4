package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mfabridge/mfabridge/cmd/mfabridge-bench/loadgen"
)

// runOnly measures one part of the report and prints it, with the CPU
// profile of the server under load: the loop to use while working on one
// number.
func runOnly(part string, dur time.Duration, workers int, latency time.Duration) error {
	ctx := context.Background()
	switch part {
	case "http":
		for _, plain := range []bool{true, false} {
			scheme := map[bool]string{true: "http", false: "https"}[plain]
			tn, targs, err := tenant(plain, latency)
			if err != nil {
				return err
			}
			prof := filepath.Join(os.TempDir(), "mfabridge-bench-"+scheme+".pprof")
			args := append(targs, "-cpuprofile", prof)
			if os.Getenv("MFB_ALLOCS") != "" { // sampling allocations slows the server
				args = append(args, "-memprofile", strings.TrimSuffix(prof, ".pprof")+"-allocs.pprof")
			}
			c, err := startChild(scheme, args...)
			if err != nil {
				tn.Close()
				return err
			}
			m, err := load(ctx, c.pid, loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, MFA: true, Code: currentCode, Workers: workers * 4, Duration: dur, Users: 1000, WithMA: true})
			c.stop()
			tn.Close()
			if err != nil {
				return err
			}
			fmt.Printf("%s: %.0f logins/s, %.0f requests/s, server CPU %.2f s, %.0f requests per CPU-second, request p50 %s p99 %s, answer p50 %s, failures %d, timeouts %d\n",
				scheme, m.LoginsPerSecond(), m.PacketsPerSecond(), m.CPU.Seconds(), m.PerCPUSecond(), ms(m.Quantile("request", .5)), ms(m.Quantile("request", .99)), ms(m.Quantile("answer", .5)), m.Failures, m.Timeouts)
			if top, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=60", prof).Output(); err == nil {
				fmt.Printf("profile %s:\n%s\n", prof, top)
			}
			if parts, err := breakdown(prof); err != nil {
				fmt.Printf("%s: no breakdown: %v\n", scheme, err)
			} else if us, total := perLogin(parts, m); us != nil {
				fmt.Printf("%s: CPU per login %.1f µs:\n", scheme, total)
				for i, c := range parts {
					fmt.Printf("  %6.1f µs  %s\n", us[i], c.name)
				}
			}
		}
		return nil
	case "curve":
		c, err := startChild("inproc-mfa", "-mode", "inproc-mfa")
		if err != nil {
			return err
		}
		defer c.stop()
		mfa := loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, MFA: true, Code: func() string { return "123456" }, Workers: workers, Duration: dur, WithMA: true}
		m, err := load(ctx, c.pid, mfa)
		if err != nil {
			return err
		}
		max := m.LoginsPerSecond()
		fmt.Printf("maximum: %.0f logins/s\n", max)
		for _, f := range []float64{0.1, 0.25, 0.5, 0.75} {
			l := mfa
			l.Workers, l.Rate, l.Duration, l.Warmup = 256, f*max, dur/2, settle
			profile := fmt.Sprint(f) == os.Getenv("MFB_PROFILE_AT") || (f == 0.5 && os.Getenv("MFB_PROFILE_AT") == "") // the server's profile at half load
			l.Measure = func() {
				c.resetLatency()
				if profile {
					go c.saveProfile(fmt.Sprintf("profile?seconds=%d", int(dur/time.Second/2)-1), filepath.Join(os.TempDir(), "mfabridge-bench-half.pprof"))
				}
			}
			lm, err := load(ctx, c.pid, l)
			if err != nil {
				return err
			}
			s := c.latency()
			fmt.Printf("%3.0f%%: %.0f logins/s, request p50 %s p99 %s, bridge p50 %dµs p99 %dµs p99.9 %dµs, lost %d, server CPU %.0f%%, generator CPU %.0f%%\n",
				f*100, lm.LoginsPerSecond(), ms(lm.Quantile("request", .5)), ms(lm.Quantile("request", .99)), s["p50"], s["p99"], s["p999"], lm.Failures+lm.Timeouts,
				100*lm.CPU.Seconds()/lm.Elapsed.Seconds(), 100*lm.GeneratorCPU.Seconds()/lm.Elapsed.Seconds())
		}
		return nil
	case "pap-half":
		rows, rt, err := papHalf(ctx, dur, workers)
		if err != nil {
			return err
		}
		fmt.Println("mfabridge runtime:", rt)
		for _, r := range rows {
			fmt.Printf("%s: max %.0f/s; at half: %.0f/s, request p50 %s p99 %s p99.9 %s, lost %d, server CPU %.0f%%, generator CPU %.0f%%, bridge p99 %dµs\n", r.name, r.max, r.m.PacketsPerSecond(),
				ms(r.m.Quantile("request", .5)), ms(r.m.Quantile("request", .99)), ms(r.m.Quantile("request", .999)), r.m.Failures+r.m.Timeouts,
				100*r.m.CPU.Seconds()/r.m.Elapsed.Seconds(), 100*r.m.GeneratorCPU.Seconds()/r.m.Elapsed.Seconds(), r.server["p99"])
		}
		return nil
	case "floor":
		prof := filepath.Join(os.TempDir(), "mfabridge-bench-floor.pprof")
		c, err := startChild("inproc", "-mode", "inproc", "-cpuprofile", prof)
		if err != nil {
			return err
		}
		m, err := load(ctx, c.pid, loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, Workers: 4, Rate: 20, Duration: dur, WithMA: true})
		c.stop()
		if err != nil {
			return err
		}
		fmt.Printf("20 requests/s for %v: server CPU %v (%.2f%% of a core), %d requests\n", m.Elapsed.Round(time.Millisecond), m.CPU, 100*m.CPU.Seconds()/m.Elapsed.Seconds(), m.Packets)
		if top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=20", prof).Output(); err == nil {
			fmt.Println(string(top))
		}
		return nil
	case "storm":
		for _, set := range storms {
			if stormUsers > 0 && set.users != stormUsers {
				continue
			}
			st, err := measureStorm(ctx, set)
			if err != nil {
				return err
			}
			fmt.Printf("%+v\n", st)
		}
		return nil
	case "sweeps":
		r := &report{workers: workers, sweepDuration: dur / 2}
		var err error
		if os.Getenv("MFABRIDGE_BENCH_PENDING_PROFILES") == "" {
			if r.nasSweep, err = nasSweep(ctx, r.sweepDuration, workers); err != nil {
				return err
			}
		}
		if r.pendingSweep, err = pendingSweep(ctx, r.sweepDuration, workers); err != nil {
			return err
		}
		r.sweepSection(func(f string, a ...any) { fmt.Printf(f+"\n", a...) })
		return nil
	case "redis":
		r := &report{workers: workers, sweepDuration: dur / 2}
		var err error
		if r.redis, err = redisBeside(ctx, r.sweepDuration, workers); err != nil {
			return err
		}
		r.redisSection(func(f string, a ...any) { fmt.Printf(f+"\n", a...) })
		return nil
	case "rest":
		fr, mfb, frCalls, mfbCalls, err := restPeer(ctx, dur, workers, latency)
		if err != nil {
			return err
		}
		for _, row := range []struct {
			name  string
			m     measured
			calls float64
		}{{"FreeRADIUS + rlm_rest", fr, frCalls}, {"mfabridge", mfb, mfbCalls}} {
			fmt.Printf("%s: %.0f logins/s, %.1f tenant calls a login, %.0f µs of CPU a login, %d failures, %d timeouts\n", row.name, row.m.LoginsPerSecond(), row.calls, 1e6*row.m.CPU.Seconds()/float64(max(row.m.Logins, 1)), row.m.Failures, row.m.Timeouts)
		}
		return nil
	case "little":
		r := &report{sweepDuration: dur / 2}
		var err error
		if r.little, err = latencySweep(ctx, dur); err != nil {
			return err
		}
		r.littleSection(func(f string, a ...any) { fmt.Printf(f+"\n", a...) })
		return nil
	case "tls":
		r := &report{}
		if err := measureTLS(ctx, r, dur, workers); err != nil {
			return err
		}
		fmt.Printf("PAP over RADIUS/TLS: %.0f requests per CPU-second (%d failures, %d timeouts); %.0f handshakes per CPU-second; %.0f bytes per open connection\n", r.papTLS.PerCPUSecond(), r.papTLS.Failures, r.papTLS.Timeouts, r.handshakesPerCPUSecond, r.bytesPerTLSConn)
		return nil
	case "memory":
		mem, err := memory(ctx, workers, true)
		if err != nil {
			return err
		}
		for _, m := range mem {
			fmt.Printf("menu %v: %d conversations: RSS +%.1f MiB, heap +%.1f MiB, %d bytes each (heap), %d (RSS)\n", m.menu, m.conversations, float64(m.rss)/(1<<20), float64(m.heap)/(1<<20), m.heap/max(m.conversations, 1), m.rss/max(m.conversations, 1))
		}
		return nil
	}
	return fmt.Errorf("-only %q: use http, curve, pap-half, tls, floor, storm, sweeps, redis, rest, little or memory", part)
}

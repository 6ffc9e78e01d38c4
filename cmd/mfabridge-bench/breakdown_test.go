package main

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/mfabridge/mfabridge/cmd/mfabridge-bench/loadgen"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		frames []string // innermost first
		want   string
	}{
		{[]string{"internal/runtime/syscall/linux.Syscall6", "syscall.Syscall", "internal/poll.(*FD).Write", "net.(*conn).Write", "bufio.(*Writer).Flush", "net/http.(*persistConn).writeLoop"}, partTCP},
		{[]string{"internal/runtime/syscall/linux.Syscall6", "syscall.RawSyscall6", "github.com/mfabridge/mfabridge/bridge.(*udpSocket).WriteTo.func1", "github.com/mfabridge/mfabridge/bridge.(*Server).send"}, partUDP},
		{[]string{"internal/runtime/syscall/linux.Syscall6", "internal/runtime/syscall/linux.EpollWait", "runtime.netpoll", "runtime.findRunnable"}, partRuntime},
		// An allocation counts as its caller's.
		{[]string{"runtime.mallocgc", "runtime.newobject", "context.WithDeadlineCause", "github.com/mfabridge/mfabridge/identity/cyberark.(*provider).once", "github.com/mfabridge/mfabridge/bridge.(*exchange).respond"}, partProvider},
		{[]string{"runtime.mallocgc", "net/textproto.readMIMEHeader", "net/http.ReadResponse", "net/http.(*persistConn).readLoop"}, partHTTP},
		// JSON is the innermost known package, under the provider.
		{[]string{"github.com/go-json-experiment/json/jsontext.(*decoderState).ReadValue", "github.com/go-json-experiment/json.Unmarshal", "github.com/mfabridge/mfabridge/identity/cyberark.decodeAnswer", "github.com/mfabridge/mfabridge/bridge.(*exchange).respond"}, partJSON},
		{[]string{"encoding/json.Marshal", "github.com/mfabridge/mfabridge/identity/cyberark.(*provider).once"}, partJSON},
		{[]string{"crypto/md5.block", "github.com/mfabridge/mfabridge/internal/msgauth.sum", "github.com/mfabridge/mfabridge/bridge.(*Server).reply"}, partBridge},
		{[]string{"sort.Strings", "github.com/sirupsen/logrus.(*TextFormatter).Format"}, partBridge},
		{[]string{"runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker"}, partRuntime},
		{[]string{"encoding/json.(*Encoder).Encode", "main.runServer.func1", "net/http.HandlerFunc.ServeHTTP", "net/http.(*conn).serve"}, partHarness},
		{nil, partRuntime},
	} {
		if got := classify(tc.frames); got != tc.want {
			t.Errorf("classify(%v) = %q, want %q", tc.frames, got, tc.want)
		}
	}
}

func TestClassifyRedis(t *testing.T) {
	for _, tc := range []struct {
		frames []string // innermost first
		want   string
	}{
		{[]string{"internal/runtime/syscall/linux.Syscall6", "syscall.Syscall", "internal/poll.(*FD).Write", "net.(*conn).Write", "bufio.(*Writer).Flush", "github.com/redis/rueidis.(*pipe)._backgroundWrite"}, partRedisSys},
		{[]string{"internal/runtime/syscall/linux.Syscall6", "syscall.RawSyscall6", "github.com/mfabridge/mfabridge/transport.(*udpSocket).WriteTo.func1", "github.com/mfabridge/mfabridge/bridge.(*Server).deliver"}, partUDP},
		{[]string{"internal/runtime/syscall/linux.Syscall6", "internal/runtime/syscall/linux.EpollWait", "runtime.netpoll", "runtime.findRunnable"}, partRuntime},
		// An allocation counts as its caller's: rueidis's inside
		// mfabridge's call is rueidis's.
		{[]string{"runtime.mallocgc", "github.com/redis/rueidis.(*pipe).DoMulti", "github.com/mfabridge/mfabridge/bridge.(*joins).end"}, partRedisClient},
		{[]string{"github.com/redis/rueidis/internal/cmds.crc16", "github.com/redis/rueidis/internal/cmds.Set.Key", "github.com/mfabridge/mfabridge/bridge.(*joins).end"}, partRedisClient},
		{[]string{"runtime.concatstring3", "github.com/mfabridge/mfabridge/bridge/replycache.(*Redis).FinishCommand"}, partOwn},
		{[]string{"crypto/md5.block", "github.com/mfabridge/mfabridge/internal/msgauth.sum"}, partOwn},
		{[]string{"runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker"}, partRuntime},
		{nil, partRuntime},
	} {
		if got := classifyRedis(tc.frames); got != tc.want {
			t.Errorf("classifyRedis(%v) = %q, want %q", tc.frames, got, tc.want)
		}
	}
}

// A profile written as the runtime writes one is read back into its parts.
func TestBreakdownReadsAProfile(t *testing.T) {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     10_000_000,
	}
	var id uint64
	loc := func(names ...string) *profile.Location { // one location, inlined frames innermost first
		id++
		l := &profile.Location{ID: id}
		for _, n := range names {
			id++
			f := &profile.Function{ID: id, Name: n}
			p.Function = append(p.Function, f)
			l.Line = append(l.Line, profile.Line{Function: f})
		}
		p.Location = append(p.Location, l)
		return l
	}
	sample := func(ms int64, locs ...*profile.Location) {
		p.Sample = append(p.Sample, &profile.Sample{Location: locs, Value: []int64{ms / 10, ms * 1e6}})
	}
	once := loc("github.com/mfabridge/mfabridge/identity/cyberark.(*provider).once")
	sample(30, loc("runtime.mallocgc"), once)
	sample(20, loc("github.com/go-json-experiment/json.Unmarshal", "github.com/mfabridge/mfabridge/identity/cyberark.decodeAnswer"), once)
	sample(40, loc("internal/runtime/syscall/linux.Syscall6"), loc("net/http.(*persistConn).writeLoop"))
	sample(10, loc("runtime.gcBgMarkWorker"))

	path := filepath.Join(t.TempDir(), "cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()

	parts, err := breakdown(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{partProvider: 0.030, partJSON: 0.020, partTCP: 0.040, partRuntime: 0.010}
	if len(parts) != len(partOrder) {
		t.Fatalf("%d parts, want %d", len(parts), len(partOrder))
	}
	for _, c := range parts {
		if math.Abs(c.seconds-want[c.name]) > 1e-9 {
			t.Errorf("%s: %.3f s, want %.3f", c.name, c.seconds, want[c.name])
		}
	}

	// 100 logins on 0.02 s of CPU: 200 µs a login, shared 30:20:40:10.
	us, total := perLogin(parts, measured{Result: loadgen.Result{Logins: 100}, CPU: 20 * time.Millisecond})
	if math.Abs(total-200) > 1e-9 {
		t.Fatalf("total %.3f µs a login, want 200", total)
	}
	for i, c := range parts {
		if w := want[c.name] / 0.1 * 200; math.Abs(us[i]-w) > 1e-9 {
			t.Errorf("%s: %.3f µs, want %.3f", c.name, us[i], w)
		}
	}
	// No samples, or no logins: nothing to share out.
	if us, _ := perLogin(parts, measured{CPU: time.Second}); us != nil {
		t.Errorf("a run without logins was shared out: %v", us)
	}
	if us, _ := perLogin(make([]cost, 3), measured{Result: loadgen.Result{Logins: 1}, CPU: time.Second}); us != nil {
		t.Errorf("a profile without samples was shared out: %v", us)
	}
	if _, err := breakdown(filepath.Join(t.TempDir(), "missing.pprof")); err == nil {
		t.Error("a missing profile gave no error")
	}
}

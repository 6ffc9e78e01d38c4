// Package redistest runs a real redis-server (Debian package redis-server)
// on a free loopback port for tests. Outside CI a missing redis-server skips
// the test; in CI (CI=true) it fails it.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/internal/redisclient"
)

// Server is a running redis-server.
type Server struct {
	Addr string
	t    testing.TB
	bin  string
	dir  string
	cmd  *exec.Cmd
}

// Start starts a redis-server with no persistence on a free loopback port;
// it is stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed (Debian package redis-server); .ci/run must install it")
		}
		t.Skip("redis-server is not installed: run 'make test' (it installs the Debian package redis-server)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &Server{Addr: addr, t: t, bin: bin, dir: t.TempDir()}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Stop stops the server (its data is lost).
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port, empty.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	_, port, _ := net.SplitHostPort(s.Addr)
	s.cmd = exec.Command(s.bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.dir)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if c, err := redisclient.New(s.settings()); err == nil {
			err = c.Do(context.Background(), c.B().Ping().Build()).Error()
			c.Close()
			if err == nil {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("redis-server did not start on %s", s.Addr)
}

// Pause stops the server from answering, its connections open (SIGSTOP),
// as a Redis that hangs; Resume lets it go on. A paused server is resumed
// when the test ends.
func (s *Server) Pause() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(s.Resume)
}

// Resume lets a paused server answer again.
func (s *Server) Resume() {
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// Client returns a client of the server as mfabridge opens it for
// [redis] address = [the server] (it connects again after a restart),
// closed when the test ends.
func (s *Server) Client() rueidis.Client {
	s.t.Helper()
	c, err := redisclient.New(s.settings())
	if err != nil {
		s.t.Fatalf("redis client: %v", err)
	}
	s.t.Cleanup(c.Close)
	return c
}

// settings are [redis] address = [the server], with the defaults' timeouts.
func (s *Server) settings() *config.Redis {
	return &config.Redis{Address: []string{s.Addr}, DialTimeout: config.Duration{Duration: 2 * time.Second}, Timeout: config.Duration{Duration: time.Second}}
}

var seq atomic.Int64

// Prefix returns a key prefix no other caller in this process gets.
func Prefix() string {
	return fmt.Sprintf("test%d-%s:", seq.Add(1), strconv.FormatInt(time.Now().UnixNano(), 36))
}

// Package bridgetest is the test kit of the RADIUS server: serve one on a
// free port of the loopback for the length of a test, and a buffer its
// logger can write to while the test reads it. It does not import package
// bridge, so that the bridge's own tests use it too.
package bridgetest

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
)

// Server is what Serve runs: a bridge.Server.
type Server interface {
	ServeConns(ctx context.Context, conns []net.PacketConn) error
}

// Served is a server running for a test.
type Served struct {
	// Addr is the UDP address it answers on.
	Addr *net.UDPAddr
	// Conn is its socket.
	Conn net.PacketConn
	stop func()
}

// Stop stops serving and waits for the server to drain; the test's end
// calls it too (it is safe to call twice).
func (s *Served) Stop() { s.stop() }

// Serve serves srv on conn, or on a free UDP port of 127.0.0.1 when conn
// is nil, until the test ends.
func Serve(t testing.TB, srv Server, conn net.PacketConn) *Served {
	t.Helper()
	if conn == nil {
		var err error
		if conn, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeConns(ctx, []net.PacketConn{conn})
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			conn.Close()
		})
	}
	t.Cleanup(stop)
	return &Served{Addr: conn.LocalAddr().(*net.UDPAddr), Conn: conn, stop: stop}
}

// Buffer is a bytes.Buffer that a logger writes to while a test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Reset empties the buffer.
func (s *Buffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

//go:build linux

package transport

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// A datagram read through udpSocket comes with its sender and the kernel's
// receive time, and a reply written through it reaches that sender; over
// IPv4 and IPv6 sockets alike.
func TestUDPSocketRoundTrip(t *testing.T) {
	for _, tc := range []struct{ network, listen, peer string }{
		{"udp4", "127.0.0.1:0", "127.0.0.1:0"},
		{"udp6", "[::1]:0", "[::1]:0"},
		{"udp", "[::]:0", "127.0.0.1:0"}, // dual stack: an IPv4 peer on an IPv6 socket
	} {
		t.Run(tc.network+" "+tc.listen, func(t *testing.T) {
			conn, err := net.ListenPacket(tc.network, tc.listen)
			if err != nil {
				t.Skipf("no %s socket here: %v", tc.network, err)
			}
			defer conn.Close()
			sock, ok := newUDPSocket(conn, true)
			if !ok {
				t.Fatal("a UDP socket was not taken")
			}
			port := conn.LocalAddr().(*net.UDPAddr).Port
			peer, err := net.ListenPacket("udp", tc.peer)
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			to := &net.UDPAddr{IP: peer.LocalAddr().(*net.UDPAddr).IP, Port: port}
			sent := time.Now()
			if _, err := peer.WriteTo([]byte("request"), to); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, at, err := sock.read(buf)
			if err != nil {
				t.Fatal(err)
			}
			if string(buf[:n]) != "request" {
				t.Fatalf("read %q", buf[:n])
			}
			if at.Before(sent.Add(-time.Second)) || at.After(time.Now()) {
				t.Fatalf("received at %v; sent at %v", at, sent)
			}
			fromAP, _ := AddrPort(from)
			peerAP, _ := AddrPort(peer.LocalAddr())
			if fromAP.Port() != peerAP.Port() || !fromAP.Addr().IsLoopback() {
				t.Fatalf("from %v; the peer is %v", from, peer.LocalAddr())
			}
			if n, err := sock.WriteTo([]byte("reply"), from); err != nil || n != 5 {
				t.Fatalf("WriteTo: %d, %v", n, err)
			}
			_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err = peer.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "reply" {
				t.Fatalf("peer read %q, %v", buf[:n], err)
			}
		})
	}
}

// A read waits for a datagram (the poller, not a spin) and ends with a
// timeout at the socket's deadline, which is how Serve stops.
func TestUDPSocketReadWaitsAndTimesOut(t *testing.T) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sock, ok := newUDPSocket(conn, false)
	if !ok {
		t.Fatal("a UDP socket was not taken")
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		c, err := net.Dial("udp4", conn.LocalAddr().String())
		if err == nil {
			_, _ = c.Write([]byte("late"))
			_ = c.Close()
		}
	}()
	buf := make([]byte, 64)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, at, err := sock.read(buf)
	if err != nil || string(buf[:n]) != "late" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if !at.IsZero() {
		t.Fatalf("untimed read gave a time %v", at)
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, _, _, err = sock.read(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
}

// With one Go processor and a goroutine that is always ready to run (as
// the runtime's background sweeper is after a collection), the runtime
// does not poll the network, and a reader parked on the socket is not
// woken: the nudger wakes it, requests are answered, and the server still
// stops when asked.
func TestNudgeWakesAStarvedReader(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var nudges atomic.Int64
	echo := func(_ context.Context, c net.PacketConn, _ string, d []byte, from net.Addr, _ time.Time) func() {
		reply := append([]byte(nil), d...)
		return func() { _, _ = c.WriteTo(reply, from) }
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeUDP(ctx, conn, NewPool(), echo, UDPOptions{OnNudge: func() { nudges.Add(1) }}) }()
	client, err := net.Dial("udp4", conn.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	hog := make(chan struct{})
	hogDone := make(chan struct{})
	go func() {
		defer close(hogDone)
		for {
			select {
			case <-hog:
				return
			default:
				runtime.Gosched()
			}
		}
	}()
	// Requests keep coming, a millisecond apart (timers still run while
	// the hog starves the network poller), as under load.
	const n = 200
	go func() {
		for i := range n {
			_, _ = client.Write([]byte{byte(i), 1, 2, 3})
			time.Sleep(time.Millisecond)
		}
	}()
	buf := make([]byte, 64)
	for got := 0; got < n; got++ {
		_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := client.Read(buf); err != nil || n != 4 {
			t.Fatalf("reply %d: %d bytes, %v", got, n, err)
		}
	}
	close(hog)
	<-hogDone
	if nudges.Load() == 0 {
		t.Fatal("no reader was nudged while the scheduler had no time to poll the network")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the reader did not stop")
	}
}

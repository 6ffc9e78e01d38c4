package bridge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/transport"
)

// RADIUS over a stream: TCP (RFC 6613) and TLS (RFC 6614, "RadSec").
// Packets follow each other on the connection, each framed by its own
// Length field; a connection carries a NAS's requests and mfabridge's
// replies in any order. Every packet then takes the UDP path (dispatch):
// the same checks, reply cache, conversation and reply building; only the
// secret differs over TLS, where it is the fixed "radsec" (RFC 6614 §2.3)
// and the TLS handshake authenticated the NAS.

// StreamOptions configure a stream listener.
type StreamOptions struct {
	// TLS is true for RADIUS over TLS (the listener is a tls.Listener),
	// DTLS for RADIUS over DTLS (transport.ListenDTLS).
	TLS, DTLS bool
	// RequireV11 closes a TLS or DTLS connection that did not negotiate
	// RADIUS/1.1 (ALPN "radius/1.1"). The listener's ALPN names say what is
	// offered; without this, a connection without RADIUS/1.1 speaks
	// historic RADIUS over (D)TLS.
	RequireV11 bool
	// IdleTimeout closes a connection that sends nothing for this long.
	// Default 60s. RFC 6614 §2.6 suggests Status-Server as the keepalive.
	IdleTimeout time.Duration
	// MaxConnections bounds the connections open at once (past it, new
	// ones are closed at once); MaxPerClient those of one NAS. Defaults
	// 1024 and 16.
	MaxConnections, MaxPerClient int
}

// The fixed shared secrets of RADIUS over TLS (RFC 6614 §2.3) and over
// DTLS (RFC 7360 §2.1).
const (
	radsecSecret = "radsec"
	dtlsSecret   = "radius/dtls"
)

// streamConn is one stream connection as the UDP path sees it (see
// transport.StreamConn), with what admission learnt of it.
type streamConn struct {
	transport.StreamConn
	kind   string // "tcp", "tls" or "dtls", for logs
	secret string // "" : the client's own
	// v11 translates a RADIUS/1.1 connection's packets (nil: historic).
	v11 *transport.V11
}

// WriteTo sends a reply on the connection, in RADIUS/1.1 form on a
// RADIUS/1.1 connection.
func (c *streamConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.v11 != nil {
		out, err := c.v11.Out(b)
		if err != nil {
			return 0, err
		}
		return c.StreamConn.WriteTo(out, addr)
	}
	return c.StreamConn.WriteTo(b, addr)
}

// secretFor is the shared secret of client's packets on this connection.
func (c *streamConn) secretFor(client *config.Client) string {
	if c.secret != "" {
		return c.secret
	}
	return client.Secret
}

// ServeStream serves the connections l accepts until ctx ends.
func (s *Server) ServeStream(ctx context.Context, l net.Listener, o StreamOptions) error {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 60 * time.Second
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 1024
	}
	if o.MaxPerClient <= 0 {
		o.MaxPerClient = 16
	}
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	var open atomic.Int64
	perClient := sync.Map{} // client name -> *atomic.Int64
	kind := "tcp"
	switch {
	case o.DTLS:
		kind = "dtls"
	case o.TLS:
		kind = "tls"
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		if open.Add(1) > int64(o.MaxConnections) {
			open.Add(-1)
			s.drop(dropOverload, s.log.WithField("src", c.RemoteAddr().String()), "too many stream connections open: closed")
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer open.Add(-1)
			s.serveStreamConn(ctx, c, o, kind, &perClient)
		}()
	}
}

func (s *Server) serveStreamConn(ctx context.Context, c net.Conn, o StreamOptions, kind string, perClient *sync.Map) {
	defer c.Close()
	log := s.log.WithFields(logrus.Fields{"src": c.RemoteAddr().String(), "transport": kind})
	ap, ok := transport.AddrPort(c.RemoteAddr())
	if !ok {
		return
	}
	client := s.state.Load().clients.lookup(ap.Addr())
	if client == nil {
		s.drop(dropUnknownClient, log, "connection from an address that is no [[client]]: closed (add the NAS to radius.conf if it is yours)")
		return
	}
	log = log.WithField("nas", client.Name)
	n, _ := perClient.LoadOrStore(client.Name, new(atomic.Int64))
	count := n.(*atomic.Int64)
	defer count.Add(-1)
	if count.Add(1) > int64(o.MaxPerClient) {
		s.drop(dropOverload, log, "too many connections from this NAS: closed")
		return
	}
	sc := &streamConn{StreamConn: transport.StreamConn{Conn: c}, kind: kind}
	if tc, ok := c.(*tls.Conn); ok {
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.HandshakeContext(ctx); err != nil {
			s.drop(dropBadMsgAuth, log.WithError(err), "TLS handshake failed (an unknown or untrusted certificate?): closed")
			return
		}
		_ = tc.SetDeadline(time.Time{})
		if !certMatches(client, tc.ConnectionState().PeerCertificates) {
			s.drop(dropBadMsgAuth, log, "the NAS's certificate names none of its client's tls_names: closed")
			return
		}
		sc.secret = radsecSecret
		if tc.ConnectionState().NegotiatedProtocol == transport.ALPN11 {
			sc.v11 = transport.NewV11(radsecSecret)
		}
	}
	dc, datagrams := c.(*transport.DTLSConn)
	if datagrams {
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := dc.Handshake(hctx)
		cancel()
		if err != nil {
			s.drop(dropBadMsgAuth, log.WithError(err), "DTLS handshake failed (an unknown or untrusted certificate?): closed")
			return
		}
		if !certMatches(client, dc.PeerCertificates()) {
			s.drop(dropBadMsgAuth, log, "the NAS's certificate names none of its client's tls_names: closed")
			return
		}
		sc.secret = dtlsSecret
		if dc.NegotiatedProtocol() == transport.ALPN11 {
			sc.v11 = transport.NewV11(dtlsSecret)
		}
	}
	if sc.v11 != nil {
		log = log.WithField("radius", "1.1")
	} else if (o.TLS || o.DTLS) && o.RequireV11 {
		s.drop(dropUnsupported, log, "the NAS did not negotiate RADIUS/1.1 (ALPN radius/1.1), which radsec.versions requires: closed")
		return
	}
	local := c.LocalAddr().String()
	// When the server stops, the connection stops being read at once
	// (requests in flight still get their answers): a DTLS peer that went
	// away sends no close, and the idle timeout is long.
	unblock := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	defer unblock()
	for ctx.Err() == nil {
		var (
			pkt []byte
			err error
		)
		if datagrams {
			pkt, err = transport.ReadDatagram(c, o.IdleTimeout)
		} else {
			pkt, err = transport.ReadFrame(c, o.IdleTimeout)
		}
		switch {
		case errors.Is(err, transport.ErrFrame):
			// A length that lies, or a packet cut short: the stream
			// cannot be read on; this connection alone is closed.
			s.drop(dropMalformed, log, "stream packet with an impossible Length, or cut short: connection closed")
			return
		case err != nil:
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				log.WithError(err).Debug("stream connection closed")
			}
			return
		}
		if sc.v11 != nil {
			if pkt, err = sc.v11.In(pkt); err != nil {
				s.drop(dropMalformed, log.WithError(err), "RADIUS/1.1 packet that cannot be taken: dropped")
				continue
			}
		}
		if job := s.dispatch(s.base, sc, local, pkt, c.RemoteAddr(), time.Time{}); job != nil {
			s.pool.Run(job)
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// certMatches reports whether the NAS's certificate carries one of its
// client's tls_names (a DNS name or the subject's common name; "*." matches
// one label), or the client names none.
func certMatches(client *config.Client, peer []*x509.Certificate) bool {
	if len(client.TLSNames) == 0 {
		return true
	}
	if len(peer) == 0 {
		return false
	}
	cert := peer[0]
	names := append([]string{cert.Subject.CommonName}, cert.DNSNames...)
	for _, want := range client.TLSNames {
		for _, n := range names {
			if ok, _ := path.Match(strings.ToLower(want), strings.ToLower(n)); ok {
				return true
			}
		}
	}
	return false
}

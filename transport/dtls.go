package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"

	"github.com/pion/dtls/v3"
)

// RADIUS over DTLS (RFC 7360): each DTLS record carries one RADIUS packet,
// so a DTLS association is read a datagram at a time, and answered on the
// association. The DTLS implementation is pion/dtls (v3, the line
// pion/webrtc runs on): the standard library has none.

// ListenDTLS listens for RADIUS over DTLS 1.2 on the UDP address addr.
// Every handshake takes the certificate cert returns (so that a reload
// puts new ones in force) and must present a client certificate that
// clientCAs returns a CA for: mutual authentication, as RFC 7360 §2.1
// asks.
// alpn are the RADIUS versions offered (ALPN10, ALPN11), most wanted
// first; none: no ALPN.
func ListenDTLS(addr string, cert func() (*tls.Certificate, error), clientCAs *x509.CertPool, alpn ...string) (net.Listener, error) {
	udp, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	opts := []dtls.ServerOption{
		dtls.WithGetCertificate(func(*dtls.ClientHelloInfo) (*tls.Certificate, error) { return cert() }),
		dtls.WithClientCAs(clientCAs),
		dtls.WithClientAuth(dtls.RequireAndVerifyClientCert),
		dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
	}
	if len(alpn) > 0 {
		opts = append(opts, dtls.WithSupportedProtocols(alpn...))
	}
	l, err := dtls.ListenWithOptions("udp", udp, opts...)
	if err != nil {
		return nil, fmt.Errorf("dtls: %w", err)
	}
	return dtlsListener{l}, nil
}

// dtlsListener hands out its associations as *DTLSConn.
type dtlsListener struct{ net.Listener }

func (l dtlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	dc, ok := c.(*dtls.Conn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("dtls: accepted a %T", c)
	}
	return &DTLSConn{Conn: dc}, nil
}

// DTLSConn is one DTLS association: Read returns one RADIUS packet (one
// record) at a time.
type DTLSConn struct{ *dtls.Conn }

// PeerCertificates returns the client's certificates once the handshake
// is done (nil before, or when one cannot be parsed).
func (c *DTLSConn) PeerCertificates() []*x509.Certificate {
	st, ok := c.ConnectionState()
	if !ok {
		return nil
	}
	var out []*x509.Certificate
	for _, raw := range st.PeerCertificates {
		cert, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil
		}
		out = append(out, cert)
	}
	return out
}

// Handshake runs the DTLS handshake, bounded by ctx.
func (c *DTLSConn) Handshake(ctx context.Context) error { return c.HandshakeContext(ctx) }

// NegotiatedProtocol is the ALPN name agreed at the handshake ("": none).
func (c *DTLSConn) NegotiatedProtocol() string {
	st, ok := c.ConnectionState()
	if !ok {
		return ""
	}
	return st.NegotiatedProtocol
}

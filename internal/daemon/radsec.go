package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"sync/atomic"

	"github.com/sirupsen/logrus"

	"github.com/mfabridge/mfabridge/bridge"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/transport"
)

// tlsHolder holds the TLS settings of RADIUS over TLS so that a reload
// (SIGHUP) puts new certificates in force for new connections without
// closing the open ones.
type tlsHolder struct{ cfg atomic.Pointer[tls.Config] }

// load reads the certificate, key and client CAs of r.
func (h *tlsHolder) load(r *config.RadSec) error {
	cert, err := tls.LoadX509KeyPair(r.CertFile, r.KeyFile)
	if err != nil {
		return fmt.Errorf("radsec: cert_file and key_file: %w", err)
	}
	pem, err := os.ReadFile(r.ClientCAFile)
	if err != nil {
		return fmt.Errorf("radsec: client_ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("radsec: client_ca_file %s holds no PEM certificate", r.ClientCAFile)
	}
	alpn, _ := r.ALPN()
	h.cfg.Store(&tls.Config{
		NextProtos:   alpn, // RADIUS/1.1 (draft-ietf-radext-radiusv11) where both sides offer it
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		// Mutual authentication: a NAS without a certificate the CAs
		// trust is refused at the handshake (RFC 6614 §2.3).
		ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS12,
	})
	return nil
}

// listenStreams serves RADIUS over TLS and TCP as [radsec] says.
func listenStreams(ctx context.Context, cfg *config.Config, srv *bridge.Server, h *tlsHolder, log logrus.FieldLogger) error {
	r := &cfg.RadSec
	alpn, requireV11 := r.ALPN()
	o := bridge.StreamOptions{IdleTimeout: r.IdleTimeout.Duration, MaxConnections: r.MaxConnections, MaxPerClient: r.MaxPerClient, RequireV11: requireV11}
	serve := func(l net.Listener, o bridge.StreamOptions, what string) {
		log.WithField("addr", l.Addr().String()).Info("listening for " + what)
		go func() {
			if err := srv.ServeStream(ctx, l, o); err != nil {
				log.WithError(err).Error(what + " stopped")
			}
		}()
	}
	if len(r.Listen) > 0 {
		if err := h.load(r); err != nil {
			return err
		}
		base := &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return h.cfg.Load(), nil }}
		for _, addr := range r.Listen {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("radsec: cannot listen on %s: %w", addr, err)
			}
			to := o
			to.TLS = true
			serve(tls.NewListener(l, base), to, "RADIUS over TLS (RadSec)")
		}
	}
	if len(r.DTLSListen) > 0 {
		if len(r.Listen) == 0 {
			if err := h.load(r); err != nil {
				return err
			}
		}
		cert := func() (*tls.Certificate, error) { return &h.cfg.Load().Certificates[0], nil }
		for _, addr := range r.DTLSListen {
			// The client CAs are those at start: a reload renews the
			// certificate, and new CAs need a restart.
			l, err := transport.ListenDTLS(addr, cert, h.cfg.Load().ClientCAs, alpn...)
			if err != nil {
				return fmt.Errorf("radsec: cannot listen on %s: %w", addr, err)
			}
			to := o
			to.DTLS = true
			serve(l, to, "RADIUS over DTLS")
		}
	}
	for _, addr := range r.TCPListen {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("radsec: cannot listen on %s: %w", addr, err)
		}
		serve(l, o, "RADIUS over TCP")
	}
	return nil
}

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// listenTLS listens for RADIUS over TLS as mfabridge does (TLS 1.2+,
// mutual certificates), with a CA and certificates made for the run. It
// writes the CA, a NAS certificate and key, and the address to dir, for
// the load generator.
func listenTLS(dir string) (net.Listener, error) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench CA"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(name string, usage x509.ExtKeyUsage) (tls.Certificate, []byte, []byte) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		der, _ := x509.CreateCertificate(rand.Reader, tpl, ca, &k.PublicKey, caKey)
		kd, _ := x509.MarshalECPrivateKey(k)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}, der, kd
	}
	server, _, _ := leaf("mfabridge.bench", x509.ExtKeyUsageServerAuth)
	_, nasDER, nasKey := leaf("nas.bench", x509.ExtKeyUsageClientAuth)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{server}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, err
	}
	for name, b := range map[string][]byte{
		"ca.pem":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		"nas.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: nasDER}),
		"nas.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: nasKey}),
		"addr":    []byte(l.Addr().String()),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// tlsClient is the load generator's TLS configuration for the server's
// files in dir, and the server's address.
func tlsClient(dir string) (*tls.Config, string, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "nas.pem"), filepath.Join(dir, "nas.key"))
	if err != nil {
		return nil, "", err
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, "", err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	addr, err := os.ReadFile(filepath.Join(dir, "addr"))
	if err != nil {
		return nil, "", err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "mfabridge.bench", MinVersion: tls.VersionTLS12}, string(addr), nil
}

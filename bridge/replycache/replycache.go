// Package replycache absorbs RADIUS retransmissions (RFC 5080 §2.2.2): a
// duplicate of a request in flight is dropped, a duplicate of an answered
// request gets the same reply again, and neither reaches the identity
// provider. Memory keeps the replies of one instance; Redis shares them
// among the instances on one Redis, for a retransmission that a load
// balancer or a failing-over NAS sends elsewhere. Both pass the
// conformance suite in replycachetest.
package replycache

import (
	"context"
	"net/netip"
)

// Key identifies a request as RFC 5080 §2.2.2 does: receiving socket,
// source address and port, Code and Identifier. The Request Authenticator
// tells a retransmission from a new request with the same key.
type Key struct {
	// Local is the receiving socket's address, Remote the source's (as
	// text), NAS the client's name.
	Local, Remote, NAS string
	Src                netip.AddrPort
	Code, ID           byte
}

// Verdict is what to do with an incoming request.
type Verdict int

// The verdicts.
const (
	New      Verdict = iota // process it
	InFlight                // drop: the original is still being processed, or was answered by silence
	Replay                  // send the cached reply
)

// Cache is a reply cache.
type Cache interface {
	// Begin registers a request; for Replay it returns the reply.
	Begin(ctx context.Context, k Key, auth [16]byte) (Verdict, []byte, error)
	// Finish records the reply to a request (nil: it got none).
	Finish(ctx context.Context, k Key, auth [16]byte, reply []byte) error
	// Forget removes a request that was never processed, so that its
	// retransmission is.
	Forget(ctx context.Context, k Key, auth [16]byte) error
}

var (
	_ Cache = (*Memory)(nil)
	_ Cache = (*Redis)(nil)
)

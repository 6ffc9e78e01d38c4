package bridge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sync"
	"time"

	"github.com/redis/rueidis"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/internal/lease"
	"github.com/mfabridge/mfabridge/radpacket"
)

// joins lets a request that repeats a login already being answered wait for
// that login's answer instead of starting a second one (a second push).
// pam_radius_auth sends such a request when it fails over to the next
// server, and some NAS renumber their retransmissions: a new Identifier and
// Request Authenticator, the same user, password (or answer) and State, from
// the same NAS and station. The retransmission cache, keyed by Identifier
// and Authenticator, cannot see that they are the same login.
//
// A login is named by an HMAC, under the NAS's shared secret, of the user
// name, the password or answer, the State and the station: a request joins
// only a login whose password it knows. Within an instance the requests
// meet in a map; across instances on one Redis, the first holds a short
// lease it renews while it works (so that an instance that dies lets go
// within a few seconds), and the others poll for its answer.
type joins struct {
	mu    sync.Mutex
	local map[string]*joinCall

	rdb    rueidis.Client // nil: this instance only
	prefix string
	lease  time.Duration
	poll   time.Duration
	keeper *lease.Keeper // renews the claims this instance holds
}

// joinCall is a login being answered.
type joinCall struct {
	// done is closed when the answer is in; it is made by the first
	// request that waits (j.mu), so that a login no request joins (most
	// of them) costs no channel while it is answered.
	done    chan struct{}
	reply   []byte // the answer as a template (see template); nil: none sent
	waiters int    // requests of this instance waiting for it (j.mu)
}

// joinLease is how long an instance's claim on a login (or a request in
// the shared reply cache) lasts unless renewed: it is renewed every third
// of it while the login runs. joinPoll is how often another instance asks
// for the answer.
const (
	joinLease = 5 * time.Second
	joinPoll  = 150 * time.Millisecond
)

func newJoins(rdb rueidis.Client, prefix string) *joins {
	return &joins{local: map[string]*joinCall{}, rdb: rdb, prefix: prefix + "joins:", lease: joinLease, poll: joinPoll, keeper: lease.NewKeeper(rdb, joinLease)}
}

// joinKey names the login req belongs to; ok is false for requests that
// cannot be named (no decodable password).
func joinKey(client *config.Client, req *radius.Packet) (string, bool) {
	user, ok := req.Lookup(rfc2865.UserName_Type)
	if !ok {
		return "", false
	}
	var password []byte
	if raw, ok := req.Lookup(rfc2865.UserPassword_Type); ok && len(raw) > 0 {
		pw, err := rfc2865.UserPassword_Lookup(req)
		if err != nil {
			return "", false
		}
		password = pw
	}
	state, _ := req.Lookup(rfc2865.State_Type)
	calling, _ := req.Lookup(rfc2865.CallingStationID_Type)
	// A keyed SHA-256 of the parts, each with its length, the NAS's secret
	// first: a request that does not know the password (or the secret)
	// cannot name the login. One hasher from a pool: this runs for every
	// Access-Request.
	h := hashers.Get().(hash.Hash)
	defer hashers.Put(h)
	h.Reset()
	var sum [sha256.Size]byte
	var n [4]byte
	for _, part := range [][]byte{[]byte(client.Secret), bytes.ToLower(user), password, state, calling} {
		binary.BigEndian.PutUint32(n[:], uint32(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	var b [64]byte
	key := append(append(b[:0], client.Name...), ':')
	key = hex.AppendEncode(key, h.Sum(sum[:0])[:16])
	return string(key), true
}

var hashers = sync.Pool{New: func() any { return sha256.New() }}

// joinRole is what begin made of a request.
type joinRole int

const (
	joinLead   joinRole = iota // answer it; call end when done
	joinFollow                 // the answer is in reply
)

// begin claims the login under key, or waits for the instance or request
// that holds it and returns its answer. A follower whose leader disappears
// (its instance died) takes the login over.
//
// claimed is the result of the claim's first command (claimCommand), when
// the caller sent it in a round trip of its own; nil: not sent.
func (j *joins) begin(ctx context.Context, key, from string, claimed *rueidis.RedisResult) (role joinRole, reply []byte, shared bool, err error) {
	j.mu.Lock()
	if c := j.local[key]; c != nil {
		c.waiters++
		if c.done == nil {
			c.done = make(chan struct{})
		}
		done := c.done
		j.mu.Unlock()
		if claimed != nil && claimed.Error() == nil {
			// The claim went out before this instance's leader of the login
			// made its own: it is the leader's to make.
			j.unclaim(key)
		}
		select {
		case <-done:
			return joinFollow, c.reply, false, nil
		case <-ctx.Done():
			return joinFollow, nil, false, ctx.Err()
		}
	}
	c := &joinCall{}
	j.local[key] = c
	j.mu.Unlock()
	if j.rdb == nil {
		return joinLead, nil, false, nil
	}
	role, reply, err = j.claim(ctx, key, from, claimed)
	switch {
	case err != nil && ctx.Err() != nil:
		// Out of time while another instance answers: no answer here.
		j.release(key, nil, nil)
		return joinFollow, nil, true, err
	case err != nil || role == joinLead:
		// With Redis failing, the login is answered here (this
		// instance's own requests still join in the map).
		return joinLead, nil, false, err
	}
	// Another instance answered it: its answer is this instance's too.
	j.release(key, nil, reply)
	return joinFollow, reply, true, nil
}

// claim takes the login across instances, or polls the instance that holds
// it for its answer.
func (j *joins) claim(ctx context.Context, key, from string, claimed *rueidis.RedisResult) (joinRole, []byte, error) {
	k := j.prefix + key
	first := true
	noted := false
	b := j.rdb.B()
	for {
		var err error
		if claimed != nil {
			err, claimed = claimed.Error(), nil
		} else {
			err = j.rdb.Do(ctx, j.claimCommand(key)).Error()
		}
		if err != nil && !rueidis.IsRedisNil(err) {
			return joinLead, nil, err
		}
		if err == nil {
			if noted {
				// Taken over from an instance that let go: this request is
				// the one to answer.
				_ = j.rdb.Do(ctx, b.Srem().Key(k+":from").Member(from).Build()).Error()
			}
			return joinLead, nil, nil
		}
		v, err := j.rdb.Do(ctx, b.Get().Key(k).Build()).ToString()
		switch {
		case rueidis.IsRedisNil(err):
			continue // let go of meanwhile: claim it
		case err != nil:
			return joinLead, nil, err
		case v != "" && v[0] == 'd':
			if first {
				// An answer from before this request: a new login, not a
				// join (an answer is never handed to a request that did
				// not wait for it).
				if err := j.rdb.Do(ctx, b.Set().Key(k).Value("i").PxMilliseconds(j.lease.Milliseconds()).Build()).Error(); err != nil {
					return joinLead, nil, err
				}
				return joinLead, nil, nil
			}
			return joinFollow, []byte(v[1:]), nil
		}
		first = false
		if !noted {
			// Tell the instance answering it where this request came from.
			noted = true
			for _, r := range j.rdb.DoMulti(ctx,
				b.Sadd().Key(k+":from").Member(from).Build(),
				b.Pexpire().Key(k+":from").Milliseconds((j.lease * 6).Milliseconds()).Build()) {
				_ = r.Error()
			}
		}
		t := time.NewTimer(j.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return joinFollow, nil, ctx.Err()
		case <-t.C:
		}
	}
}

// claimCommand is the command that claims the login under key across
// instances (SET NX): its result is nil when another holds it.
func (j *joins) claimCommand(key string) rueidis.Completed {
	return j.rdb.B().Set().Key(j.prefix + key).Value("i").Nx().PxMilliseconds(j.lease.Milliseconds()).Build()
}

// unclaim lets go of a claim made for a request that is not to lead the
// login after all.
func (j *joins) unclaim(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = j.rdb.Do(ctx, j.rdb.B().Del().Key(j.prefix+key).Build()).Error()
}

// end records the leader's answer (nil: none) for those waiting, here and
// on the other instances, and lets go of the login. superseded is true
// when a request from the leader's own source address joined at another
// instance: the NAS gave the leader's request up for the other server, and
// it is not answered (pam_radius_auth 2.0 ends the whole login when a late
// answer to the request it gave up arrives).
//
// also, when given, is a command of the caller's sent in the same round
// trip; its result is alsoRes (nil when it was not sent).
func (j *joins) end(key, from string, reply *radius.Packet, also ...rueidis.Completed) (superseded bool, alsoRes *rueidis.RedisResult) {
	if j.rdb == nil {
		j.release(key, reply, nil)
		return false, nil
	}
	tmpl := template(reply)
	j.release(key, nil, tmpl)
	ctx := context.Background() // bounded by redis.timeout (see redisclient)
	// One round trip: the answer (it stays a few polls long, for the
	// instances waiting on it), whether the NAS asked again elsewhere,
	// and the caller's command (the reply for the shared reply cache).
	b := j.rdb.B()
	res := j.rdb.DoMulti(ctx, append([]rueidis.Completed{
		b.Set().Key(j.prefix + key).Value("d" + string(tmpl)).PxMilliseconds((4*j.poll + time.Second).Milliseconds()).Build(),
		b.Sismember().Key(j.prefix + key + ":from").Member(from).Build()}, also...)...)
	if ok, err := res[1].AsBool(); err == nil && ok {
		superseded = true
	}
	if len(also) > 0 {
		alsoRes = &res[2]
	}
	return superseded, alsoRes
}

// release hands the answer (a reply, made into a template only when a
// request of this instance waits for it, or a template) to those waiting
// here, and lets go of the login in this instance.
func (j *joins) release(key string, reply *radius.Packet, tmpl []byte) {
	j.mu.Lock()
	c := j.local[key]
	delete(j.local, key)
	j.mu.Unlock()
	if c == nil {
		return
	}
	// Once out of the map, no request joins c any more: waiters and done
	// are final.
	if c.done == nil {
		return // no request waited
	}
	if tmpl == nil {
		tmpl = template(reply)
	}
	c.reply = tmpl
	close(c.done)
}

// template is the part of a reply that a joined request gets too: its code
// and attributes, without Proxy-State (each request has its own) and
// Message-Authenticator (computed per reply).
func template(r *radius.Packet) []byte {
	if r == nil {
		return nil
	}
	out := []byte{byte(r.Code)}
	for _, a := range r.Attributes {
		if a.Type == typeProxyState || a.Type == typeMessageAuthenticator || len(a.Attribute) > 253 {
			continue
		}
		out = append(out, byte(a.Type), byte(len(a.Attribute)))
		out = append(out, a.Attribute...)
	}
	return out
}

// fromTemplate builds the reply to req from a template; nil when there is
// none (the login was answered by staying silent) or it is not well formed.
func fromTemplate(req *radius.Packet, t []byte) *radius.Packet {
	if len(t) == 0 {
		return nil
	}
	r := radpacket.NewReply(req, radius.Code(t[0]))
	for t = t[1:]; len(t) > 0; {
		if len(t) < 2 || len(t) < 2+int(t[1]) {
			return nil
		}
		r.Add(radius.Type(t[0]), radius.Attribute(append([]byte(nil), t[2:2+int(t[1])]...)))
		t = t[2+int(t[1]):]
	}
	return r
}

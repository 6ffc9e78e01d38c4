package cyberark

import (
	"errors"
	"fmt"
	"sort"

	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/internal/binenc"
)

// state is the transaction between two RADIUS packets. It is serialized
// into identity.Txn.Data and never holds the password or an answer.
//
// It is written in a compact binary form (txnVersion, then the fields in
// order, strings and counts as uvarint-prefixed values): it is decoded at
// every packet of a conversation and kept for every conversation waiting at
// a challenge, in memory or in Redis, so its size and decoding cost count.
type state struct {
	Base       string        `json:"base"`
	SessionID  string        `json:"sid"`
	TenantID   string        `json:"tid,omitempty"`
	User       string        `json:"user"`
	Challenges [][]mechanism `json:"ch"`
	Index      int           `json:"idx"`
	Current    string        `json:"cur,omitempty"`
	Started    bool          `json:"started,omitempty"`
	Password   bool          `json:"pw,omitempty"` // a password mechanism was passed
	Cookies    jar           `json:"ck,omitempty"`
}

// txnVersion is the first byte of the binary form.
const txnVersion = 1

// Bounds that a decoded transaction must keep: far above what a tenant
// sends, low enough that a corrupt record cannot make a large allocation.
const (
	maxTxnChallenges = 16
	maxTxnMechanisms = 64
	maxTxnParts      = 16
	maxTxnCookies    = 64
)

var errTxnFormat = errors.New("cyberark: transaction is not in a known form")

func (p *provider) txn(st *state) identity.Txn {
	return identity.Txn{Provider: p.cfg.Name, Data: st.marshal()}
}

func (p *provider) decode(txn identity.Txn) (*state, error) {
	if txn.Provider != p.cfg.Name {
		return nil, fmt.Errorf("%w: it belongs to provider %q", identity.ErrBadTxn, txn.Provider)
	}
	st, err := unmarshalState(txn.Data)
	if err != nil || st.SessionID == "" || st.Base == "" {
		return nil, identity.ErrBadTxn
	}
	if st.Cookies == nil {
		st.Cookies = jar{}
	}
	return st, nil
}

// marshal writes the binary form.
func (st *state) marshal() []byte {
	// Challenges already passed are not needed again: they are left out,
	// and the index counts from the open one.
	challenges, index := st.Challenges, st.Index
	if index > 0 && index <= len(challenges) {
		challenges, index = challenges[index:], 0
	}
	// The exact size: a held push keeps its transaction, capacity and all.
	n := 16 + len(st.Base) + len(st.SessionID) + len(st.TenantID) + len(st.User) + len(st.Current)
	for _, ch := range challenges {
		for _, m := range ch {
			n += 16 + len(m.Name) + len(m.AnswerType) + len(m.MechanismID) + len(m.PromptSelectMech) + len(m.PromptMechChosen) + len(m.Question)
			if m.MultipartMechanism != nil {
				for _, part := range m.MultipartMechanism.MechanismParts {
					n += 6 + len(part.UUID) + len(part.QuestionText) + len(part.PromptMechChosen)
				}
			}
		}
	}
	for k, v := range st.Cookies {
		n += 4 + len(k) + len(v)
	}
	b := make([]byte, 0, n)
	b = append(b, txnVersion)
	b = binenc.AppendString(b, st.Base)
	b = binenc.AppendString(b, st.SessionID)
	b = binenc.AppendString(b, st.TenantID)
	b = binenc.AppendString(b, st.User)
	b = binenc.AppendUvarint(b, uint64(index))
	b = binenc.AppendString(b, st.Current)
	var flags byte
	if st.Started {
		flags |= 1
	}
	if st.Password {
		flags |= 2
	}
	b = append(b, flags)
	b = binenc.AppendUvarint(b, uint64(len(challenges)))
	for _, ch := range challenges {
		b = binenc.AppendUvarint(b, uint64(len(ch)))
		for _, m := range ch {
			b = appendMechanism(b, m)
		}
	}
	names := make([]string, 0, len(st.Cookies))
	for k := range st.Cookies {
		names = append(names, k)
	}
	sort.Strings(names)
	b = binenc.AppendUvarint(b, uint64(len(names)))
	for _, k := range names {
		b = binenc.AppendString(b, k)
		b = binenc.AppendString(b, st.Cookies[k])
	}
	return b
}

// answerTypes are the AnswerType values a tenant sends, stored as their
// index plus one; 0 is followed by any other value as text.
var answerTypes = [...]string{answerText, answerStartTextOob, answerStartOob}

func appendMechanism(b []byte, m mechanism) []byte {
	b = binenc.AppendString(b, m.Name)
	code := byte(0)
	for i, t := range answerTypes {
		if m.AnswerType == t {
			code = byte(i + 1)
		}
	}
	b = append(b, code)
	if code == 0 {
		b = binenc.AppendString(b, m.AnswerType)
	}
	b = binenc.AppendString(b, m.MechanismID)
	b = binenc.AppendString(b, m.PromptSelectMech)
	b = binenc.AppendString(b, m.PromptMechChosen)
	b = binenc.AppendString(b, m.Question)
	switch {
	case m.Enrolled == nil:
		b = append(b, 0)
	case *m.Enrolled:
		b = append(b, 2)
	default:
		b = append(b, 1)
	}
	if m.MultipartMechanism == nil {
		return append(b, 0)
	}
	// Parts are counted plus one: 0 says there is no MultipartMechanism.
	b = binenc.AppendUvarint(b, uint64(len(m.MultipartMechanism.MechanismParts))+1)
	for _, part := range m.MultipartMechanism.MechanismParts {
		b = binenc.AppendString(b, part.UUID)
		b = binenc.AppendString(b, part.QuestionText)
		b = binenc.AppendString(b, part.PromptMechChosen)
	}
	return b
}

// unmarshalState reads the binary form.
func unmarshalState(data []byte) (*state, error) {
	if len(data) == 0 {
		return nil, errTxnFormat
	}
	if data[0] != txnVersion {
		return nil, errTxnFormat
	}
	r := binenc.NewReader(data[1:])
	st := &state{
		Base:      r.String(),
		SessionID: r.String(),
		TenantID:  r.String(),
		User:      r.String(),
		Index:     r.Count(maxTxnChallenges),
		Current:   r.String(),
	}
	flags := r.Byte()
	if flags&^3 != 0 {
		r.Fail()
	}
	st.Started, st.Password = flags&1 != 0, flags&2 != 0
	if n := r.Count(maxTxnChallenges); n > 0 {
		st.Challenges = make([][]mechanism, n)
		for i := range st.Challenges {
			st.Challenges[i] = make([]mechanism, r.Count(maxTxnMechanisms))
			for j := range st.Challenges[i] {
				st.Challenges[i][j] = readMechanism(r)
			}
		}
	}
	if n := r.Count(maxTxnCookies); n > 0 {
		st.Cookies = make(jar, n)
		for i := 0; i < n; i++ {
			k := r.String()
			st.Cookies[k] = r.String()
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return st, nil
}

func readMechanism(r *binenc.Reader) mechanism {
	m := mechanism{Name: r.String()}
	switch code := int(r.Byte()); {
	case code == 0:
		m.AnswerType = r.String()
	case code <= len(answerTypes):
		m.AnswerType = answerTypes[code-1]
	default:
		r.Fail()
	}
	m = mechanism{
		Name:             m.Name,
		AnswerType:       m.AnswerType,
		MechanismID:      r.String(),
		PromptSelectMech: r.String(),
		PromptMechChosen: r.String(),
		Question:         r.String(),
	}
	switch r.Byte() {
	case 0:
	case 1:
		f := false
		m.Enrolled = &f
	case 2:
		t := true
		m.Enrolled = &t
	default:
		r.Fail()
	}
	if parts := r.Count(maxTxnParts + 1); parts > 0 {
		m.MultipartMechanism = &multipartMech{MechanismParts: make([]mechanismPart, parts-1)}
		for i := range m.MultipartMechanism.MechanismParts {
			m.MultipartMechanism.MechanismParts[i] = mechanismPart{UUID: r.String(), QuestionText: r.String(), PromptMechChosen: r.String()}
		}
	}
	return m
}

package bridge

import (
	"encoding/binary"
	"errors"

	"layeh.com/radius"

	"github.com/mfabridge/mfabridge/internal/msgauth"
)

// Attribute types mfabridge looks at directly.
const (
	typeMessageAuthenticator             = msgauth.Type
	typeProxyState           radius.Type = 33
)

var errMalformed = errors.New("malformed packet")

// checkLength validates the header length of a datagram and returns the
// packet within it (bytes past Length are padding and ignored, RFC 2865 §3).
func checkLength(b []byte) ([]byte, error) {
	if len(b) < 20 {
		return nil, errMalformed
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < 20 || n > radius.MaxPacketLength || n > len(b) {
		return nil, errMalformed
	}
	return b[:n], nil
}

package transport

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"layeh.com/radius"
)

// RADIUS over a stream: TCP (RFC 6613) and TLS (RFC 6614). Packets follow
// each other on the connection, each framed by its own Length field, and a
// connection carries requests and replies in any order.

// ErrFrame is a stream packet whose Length cannot be true, or that the
// connection cut short: the stream cannot be read on.
var ErrFrame = errors.New("transport: stream packet with an impossible Length, or cut short")

// ReadFrame reads the next packet of a stream, waiting at most idle for
// it to begin. io.EOF (or a timeout) is the connection's end; ErrFrame a
// framing that cannot go on.
func ReadFrame(c net.Conn, idle time.Duration) ([]byte, error) {
	var head [4]byte
	_ = c.SetReadDeadline(time.Now().Add(idle))
	if _, err := io.ReadFull(c, head[:]); err != nil {
		return nil, err
	}
	length := int(binary.BigEndian.Uint16(head[2:4]))
	if length < 20 || length > radius.MaxPacketLength {
		return nil, ErrFrame
	}
	pkt := make([]byte, length)
	copy(pkt, head[:])
	if _, err := io.ReadFull(c, pkt[4:]); err != nil {
		return nil, ErrFrame
	}
	return pkt, nil
}

// ReadDatagram reads the next packet of a datagram association (DTLS: one
// record, one packet), waiting at most idle for it. Its length is checked
// with the rest of the packet.
func ReadDatagram(c net.Conn, idle time.Duration) ([]byte, error) {
	buf := make([]byte, radius.MaxPacketLength+1)
	_ = c.SetReadDeadline(time.Now().Add(idle))
	n, err := c.Read(buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// StreamConn is a stream connection as the datagram path sees it: a
// net.PacketConn whose replies go back on the connection, one at a time,
// so that the Handler of a datagram serves a stream's packets unchanged.
type StreamConn struct {
	net.Conn
	mu sync.Mutex
}

// ReadFrom is not how a stream is read (see ReadFrame).
func (c *StreamConn) ReadFrom([]byte) (int, net.Addr, error) {
	return 0, nil, errors.New("transport: a stream is read through ReadFrame")
}

// WriteTo writes one reply on the connection (addr is the peer's).
func (c *StreamConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.Write(b)
}

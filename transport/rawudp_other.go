//go:build !linux

package transport

import (
	"net"
	"sync/atomic"
	"time"
)

// udpSocket is the direct system-call path of rawudp_linux.go. Elsewhere
// (darwin, the BSDs) mfabridge reads and writes its sockets through
// net.UDPConn: newUDPSocket never makes one, and the methods below are
// never called. They keep the reader's code one for every system.
type udpSocket struct {
	*net.UDPConn
	parked atomic.Bool
}

// newUDPSocket reports that the direct path is not available here.
func newUDPSocket(net.PacketConn, bool) (*udpSocket, bool) { return nil, false }

func (u *udpSocket) read(buf []byte) (int, net.Addr, time.Time, error) {
	n, addr, err := u.ReadFrom(buf)
	return n, addr, time.Time{}, err
}

func (u *udpSocket) readable() bool { return false }

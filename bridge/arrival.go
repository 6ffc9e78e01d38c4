package bridge

import (
	"encoding/binary"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// arrivals reads datagrams with the time the kernel received them
// (SO_TIMESTAMPNS), so that the time an OnReply hook is given counts the
// wait in the socket's queue as well as the work: all the time the bridge
// adds to a request.
type arrivals struct {
	conn *net.UDPConn
	oob  []byte
}

// newArrivals turns on receive timestamps on conn; ok is false when conn
// cannot give them.
func newArrivals(conn net.PacketConn) (*arrivals, bool) {
	uc, isUDP := conn.(*net.UDPConn)
	if !isUDP {
		return nil, false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, false
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return nil, false
	}
	return &arrivals{conn: uc, oob: make([]byte, 128)}, true
}

// read reads a datagram and when it arrived (now, when the kernel did not
// say).
func (a *arrivals) read(buf []byte) (int, net.Addr, time.Time, error) {
	n, oobn, _, addr, err := a.conn.ReadMsgUDPAddrPort(buf, a.oob)
	if err != nil {
		return 0, nil, time.Time{}, err
	}
	at := time.Now()
	if msgs, err := unix.ParseSocketControlMessage(a.oob[:oobn]); err == nil {
		for _, m := range msgs {
			if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_TIMESTAMPNS {
				continue
			}
			switch e := binary.NativeEndian; len(m.Data) { // a struct timespec
			case 16:
				at = time.Unix(int64(e.Uint64(m.Data)), int64(e.Uint64(m.Data[8:])))
			case 8:
				at = time.Unix(int64(int32(e.Uint32(m.Data))), int64(int32(e.Uint32(m.Data[4:]))))
			}
		}
	}
	return n, net.UDPAddrFromAddrPort(addr), at, nil
}

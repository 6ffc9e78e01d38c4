//go:build linux

package transport

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpSocket reads and writes a UDP socket with system calls made directly
// (RawSyscall) inside the runtime poller's RawConn.Read and Write, instead
// of through net.UDPConn.
//
// A UDP socket here is non-blocking: recvmsg and sendto return at once,
// with EAGAIN when there is nothing to read (then the poller waits for the
// socket as net.UDPConn would). What is saved is the runtime's entry into
// a system call that might block: on a server that goes idle between
// requests, that entry wakes the runtime's monitor thread (sysmon) on
// the first system call after each idle spell, which then polls every
// 20 µs for a millisecond; on one busy core those wake-ups took some 8% of
// the time at half load, and the requests behind them waited.
type udpSocket struct {
	*net.UDPConn
	rc syscall.RawConn
	v6 bool // the socket is AF_INET6

	// reading: used by one goroutine at a time (the reader's leader)
	readFn  func(fd uintptr) bool
	timed   bool
	buf     []byte
	oob     [64]byte
	from    unix.RawSockaddrInet6 // large enough for either family
	iov     unix.Iovec
	msg     unix.Msghdr
	n       int
	oobn    int
	readErr error
	// parked is set while the reader waits in the poller for the socket
	// to become readable (see reader.nudge).
	parked atomic.Bool
}

// newUDPSocket wraps conn; ok is false when conn is not a UDP socket the
// direct calls can use (then conn is used as it is). timed asks for each
// datagram's kernel receive time (SO_TIMESTAMPNS).
func newUDPSocket(conn net.PacketConn, timed bool) (*udpSocket, bool) {
	uc, isUDP := conn.(*net.UDPConn)
	if !isUDP {
		return nil, false
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, false
	}
	var domain int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		domain, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
		if serr == nil && timed {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		}
	}); err != nil || serr != nil || (domain != unix.AF_INET && domain != unix.AF_INET6) {
		return nil, false
	}
	u := &udpSocket{UDPConn: uc, rc: rc, v6: domain == unix.AF_INET6, timed: timed}
	u.readFn = u.recvmsg
	return u, true
}

func (u *udpSocket) recvmsg(fd uintptr) bool {
	u.parked.Store(false)
	u.iov.Base = &u.buf[0]
	u.iov.SetLen(len(u.buf))
	u.msg = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&u.from)), Namelen: uint32(unsafe.Sizeof(u.from)), Iov: &u.iov, Iovlen: 1}
	if u.timed {
		u.msg.Control = &u.oob[0]
		u.msg.SetControllen(len(u.oob))
	}
	for {
		r, _, e := unix.RawSyscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&u.msg)), 0)
		switch e {
		case 0:
			u.n, u.oobn, u.readErr = int(r), int(u.msg.Controllen), nil
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			u.parked.Store(true)
			return false // the poller waits until the socket is readable
		default:
			u.readErr = &net.OpError{Op: "read", Net: "udp", Addr: u.LocalAddr(), Err: e}
			return true
		}
	}
}

// read reads a datagram into buf; at is when the kernel received it (now,
// when it did not say or timing is off).
func (u *udpSocket) read(buf []byte) (int, net.Addr, time.Time, error) {
	u.buf = buf
	if err := u.rc.Read(u.readFn); err != nil {
		return 0, nil, time.Time{}, err
	}
	if u.readErr != nil {
		return 0, nil, time.Time{}, u.readErr
	}
	from, ok := u.sender()
	if !ok {
		return 0, nil, time.Time{}, &net.OpError{Op: "read", Net: "udp", Addr: u.LocalAddr(), Err: errors.New("datagram from an unknown address family")}
	}
	at := time.Time{}
	if u.timed {
		at = time.Now()
		if t, ok := kernelTime(u.oob[:u.oobn]); ok {
			at = t
		}
	}
	return u.n, net.UDPAddrFromAddrPort(from), at, nil
}

// sender is the address recvmsg filled in.
func (u *udpSocket) sender() (netip.AddrPort, bool) {
	switch u.from.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&u.from))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), portOf(sa.Port)), true
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(u.from.Addr).Unmap(), portOf(u.from.Port)), true
	}
	return netip.AddrPort{}, false
}

// portOf reads a port the kernel wrote in network byte order.
func portOf(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return binary.BigEndian.Uint16(b[:])
}

// kernelTime finds SCM_TIMESTAMPNS in a control message.
func kernelTime(oob []byte) (time.Time, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_TIMESTAMPNS {
			continue
		}
		switch e := binary.NativeEndian; len(m.Data) { // a struct timespec
		case 16:
			return time.Unix(int64(e.Uint64(m.Data)), int64(e.Uint64(m.Data[8:]))), true
		case 8:
			return time.Unix(int64(int32(e.Uint32(m.Data))), int64(int32(e.Uint32(m.Data[4:])))), true
		}
	}
	return time.Time{}, false
}

// WriteTo sends b to addr (a reply: many goroutines may send at once).
func (u *udpSocket) WriteTo(b []byte, addr net.Addr) (int, error) {
	ap, ok := AddrPort(addr)
	if !ok || len(b) == 0 {
		return u.UDPConn.WriteTo(b, addr)
	}
	var (
		sa4  unix.RawSockaddrInet4
		sa6  unix.RawSockaddrInet6
		sa   unsafe.Pointer
		slen uintptr
	)
	switch {
	case u.v6:
		sa6.Family = unix.AF_INET6
		sa6.Addr = ap.Addr().As16()
		setPort(&sa6.Port, ap.Port())
		sa, slen = unsafe.Pointer(&sa6), unsafe.Sizeof(sa6)
	case ap.Addr().Is4():
		sa4.Family = unix.AF_INET
		sa4.Addr = ap.Addr().As4()
		setPort(&sa4.Port, ap.Port())
		sa, slen = unsafe.Pointer(&sa4), unsafe.Sizeof(sa4)
	default:
		return u.UDPConn.WriteTo(b, addr) // an IPv6 address on an IPv4 socket: let net say why not
	}
	var n int
	var werr error
	err := u.rc.Write(func(fd uintptr) bool {
		for {
			r, _, e := unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, uintptr(sa), slen)
			switch e {
			case 0:
				n = int(r)
				return true
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // the send buffer is full: wait until it is not
			default:
				werr = &net.OpError{Op: "write", Net: "udp", Source: u.LocalAddr(), Addr: addr, Err: e}
				return true
			}
		}
	})
	if err != nil {
		return 0, err
	}
	return n, werr
}

// readable reports whether a datagram waits to be read.
func (u *udpSocket) readable() bool {
	var n int
	_ = u.rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, _ = unix.Poll(fds, 0)
	})
	return n > 0
}

// setPort writes a port in network byte order.
func setPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	binary.BigEndian.PutUint16(b[:], port)
}

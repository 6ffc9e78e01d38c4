package loadgen

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawIO reads and writes a non-blocking descriptor (a client's connected
// UDP socket, the pacer's timerfd) with direct system calls (see the
// bridge's udpSocket for why): the generator's own core then spends its
// time on the load, not on the runtime's monitor thread waking after each
// idle spell.
type rawIO struct {
	rc      syscall.RawConn
	buf     []byte
	n       int
	err     error
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
}

func newRawIO(rc syscall.RawConn) *rawIO {
	r := &rawIO{rc: rc}
	r.readFn = func(fd uintptr) bool { return r.call(unix.SYS_READ, fd) }
	r.writeFn = func(fd uintptr) bool { return r.call(unix.SYS_WRITE, fd) }
	return r
}

// call makes one read or write of r.buf; false means "wait until the
// socket is ready" (EAGAIN).
func (r *rawIO) call(trap, fd uintptr) bool {
	for {
		n, _, e := unix.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)))
		switch e {
		case 0:
			r.n, r.err = int(n), nil
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			r.n, r.err = 0, e
			return true
		}
	}
}

func (r *rawIO) write(b []byte) error {
	r.buf = b
	if err := r.rc.Write(r.writeFn); err != nil {
		return err
	}
	return r.err
}

// read waits for a datagram (until the connection's read deadline).
func (r *rawIO) read(b []byte) (int, error) {
	r.buf = b
	if err := r.rc.Read(r.readFn); err != nil {
		return 0, err
	}
	return r.n, r.err
}

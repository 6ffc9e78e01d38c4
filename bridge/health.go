package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

func (s *Server) beat(local string) {
	v, ok := s.heartbeat.Load(local)
	if !ok {
		v, _ = s.heartbeat.LoadOrStore(local, new(atomic.Int64))
	}
	v.(*atomic.Int64).Store(time.Now().UnixNano())
}

// Check proves that the server answers: it sends a probe datagram to each
// socket it serves and waits for every read loop to see it, and it checks
// that the workers are not all stuck. The watchdog and the readiness
// endpoint call it.
func (s *Server) Check(ctx context.Context) error {
	conns := s.serving.Load()
	if conns == nil || len(*conns) == 0 {
		return errors.New("bridge: not serving")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	sent := time.Now().UnixNano()
	for _, c := range *conns {
		to, err := probeAddr(c.LocalAddr())
		if err != nil {
			return err
		}
		d, err := net.DialUDP(to.Network(), nil, to)
		if err != nil {
			return fmt.Errorf("bridge: probing %s: %w", to, err)
		}
		_, err = d.Write(s.probe[:])
		_ = d.Close()
		if err != nil {
			return fmt.Errorf("bridge: probing %s: %w", to, err)
		}
	}
	for _, c := range *conns {
		local := c.LocalAddr().String()
		for {
			if v, ok := s.heartbeat.Load(local); ok && v.(*atomic.Int64).Load() >= sent {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("bridge: the read loop of %s did not answer a probe", local)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	if max := s.state.Load().cfg.Server.MaxInFlight; s.busy.Load() >= int64(max) {
		return fmt.Errorf("bridge: all %d request slots are busy", max)
	}
	return nil
}

// probeAddr is where a probe reaches a socket: its own address, or the
// loopback address when it listens on every address.
func probeAddr(a net.Addr) (*net.UDPAddr, error) {
	ua, ok := a.(*net.UDPAddr)
	if !ok {
		return nil, fmt.Errorf("bridge: %v is not a UDP address", a)
	}
	ap := ua.AddrPort()
	ip := ap.Addr()
	if ip.IsUnspecified() {
		if ip.Is4() || ip.Is4In6() {
			ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		} else {
			ip = netip.IPv6Loopback()
		}
	}
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, ap.Port())), nil
}

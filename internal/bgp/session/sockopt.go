package session

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// md5sig builds the TCP_MD5SIG option for peer addr with key ("" removes
// the key for addr). On an IPv6 socket an IPv4 peer is v4-mapped.
func md5sig(addr netip.Addr, key string, v6socket bool) *unix.TCPMD5Sig {
	t := &unix.TCPMD5Sig{}
	addr = addr.Unmap()
	if addr.Is4() && !v6socket {
		t.Addr.Family = unix.AF_INET
		b := addr.As4()
		copy(t.Addr.Data[2:], b[:])
	} else {
		t.Addr.Family = unix.AF_INET6
		b := addr.As16() // an IPv4 address v4-mapped
		copy(t.Addr.Data[6:], b[:])
	}
	t.Keylen = uint16(len(key))
	copy(t.Key[:], key)
	return t
}

// setMD5 sets (or, with key "", removes) the TCP-MD5 key for peer on a
// socket (RFC 2385): a dialer's before connect, a listener's per peer.
func setMD5(c syscall.RawConn, peer netip.Addr, key string, v6socket bool) error {
	if len(key) > unix.TCP_MD5SIG_MAXKEYLEN {
		return fmt.Errorf("TCP-MD5 password is longer than %d bytes", unix.TCP_MD5SIG_MAXKEYLEN)
	}
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptTCPMD5Sig(int(fd), unix.IPPROTO_TCP, unix.TCP_MD5SIG, md5sig(peer, key, v6socket))
	}); err != nil {
		return err
	}
	if serr != nil && key == "" && errors.Is(serr, unix.ENOENT) {
		return nil // no key was set
	}
	if serr != nil {
		return fmt.Errorf("set TCP-MD5 key for %s: %w", peer, serr)
	}
	return nil
}

// setTTL sets the IP TTL (IPv6 hop limit) of a socket.
func setTTL(c syscall.RawConn, ttl int, v6socket bool) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		if v6socket {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ttl)
			if serr != nil {
				return
			}
		}
		// A v6 socket may carry IPv4 (v4-mapped): set both where it can.
		if err := unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, ttl); err != nil && !v6socket {
			serr = err
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("set TTL %d: %w", ttl, serr)
	}
	return nil
}

// isV6Socket says whether a connection's local address is IPv6 (an IPv4
// peer on a dual-stack socket included).
func isV6Socket(c net.Conn) bool {
	la, ok := c.LocalAddr().(*net.TCPAddr)
	return ok && la.IP.To4() == nil
}

// sockoptError is a socket option the kernel refused.
type sockoptError struct{ err error }

func (e *sockoptError) Error() string { return e.err.Error() }
func (e *sockoptError) Unwrap() error { return e.err }

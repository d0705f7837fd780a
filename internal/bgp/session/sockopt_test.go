package session

import (
	"context"
	"net"
	"net/netip"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// md5Probe reports whether the kernel takes TCP_MD5SIG on a plain TCP
// listener.
func md5Probe() error {
	lc := &net.ListenConfig{}
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	sc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		return err
	}
	return setMD5(sc, netip.MustParseAddr("127.0.0.2"), "probe", false)
}

// TestMD5SigLayout checks the TCP_MD5SIG option's address as the kernel
// reads it (struct sockaddr_in / sockaddr_in6 behind the family), also
// for an IPv4 peer on an IPv6 socket (v4-mapped).
func TestMD5SigLayout(t *testing.T) {
	s := md5sig(netip.MustParseAddr("192.0.2.7"), "key", false)
	if s.Addr.Family != unix.AF_INET || s.Addr.Data[2] != 192 || s.Addr.Data[5] != 7 || s.Keylen != 3 || string(s.Key[:3]) != "key" {
		t.Errorf("IPv4: %+v", s)
	}
	s = md5sig(netip.MustParseAddr("192.0.2.7"), "key", true)
	if s.Addr.Family != unix.AF_INET6 || s.Addr.Data[6+10] != 0xff || s.Addr.Data[6+11] != 0xff || s.Addr.Data[6+12] != 192 || s.Addr.Data[6+15] != 7 {
		t.Errorf("IPv4 on an IPv6 socket: %+v", s.Addr.Data[:22])
	}
	s = md5sig(netip.MustParseAddr("2001:db8::9"), "", true)
	if s.Addr.Family != unix.AF_INET6 || s.Addr.Data[6] != 0x20 || s.Addr.Data[6+15] != 9 || s.Keylen != 0 {
		t.Errorf("IPv6: %+v", s.Addr.Data[:22])
	}
	if err := setMD5(nil, netip.MustParseAddr("192.0.2.7"), string(make([]byte, 81)), false); err == nil {
		t.Error("an 81-byte key was taken")
	}
}

// needMD5 skips a test where the kernel refuses TCP_MD5SIG, and fails it
// under CI=true.
func needMD5(t *testing.T) {
	t.Helper()
	if err := md5Probe(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("this kernel refuses TCP_MD5SIG (%v): TCP-MD5 cannot be tested", err)
		}
		t.Skipf("this kernel refuses TCP_MD5SIG (%v): TCP-MD5 cannot be tested here", err)
	}
}

package lab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

// unboundServer is one validating Unbound resolver. Its configuration is
// written from scratch (Debian's unbound.conf is never included: it loads
// the real root key), with the lab's root DS as the only trust anchor and the
// lab's root server as the only root hint.
type unboundServer struct {
	name string
	dir  string
	conf string
	addr netip.Addr
	d    *daemon
}

func newUnbound(dir, name string, addr netip.Addr, rootHints, trustAnchor string) (*unboundServer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	u := &unboundServer{name: name, dir: dir, conf: filepath.Join(dir, "unbound.conf"), addr: addr}
	path := func(f string) string { return fmt.Sprintf("%q", filepath.Join(dir, f)) }
	conf := fmt.Sprintf(`server:
	interface: %[1]s@%[2]d
	interface-automatic: no
	access-control: 127.0.0.0/8 allow
	# The lab's own /16 (a 198.18.x lab in a network namespace).
	access-control: %[9]s allow
	do-ip6: no
	num-threads: 1
	so-reuseport: no
	username: ""
	chroot: ""
	directory: %[3]q
	pidfile: %[4]s
	logfile: %[5]s
	use-syslog: no
	log-time-ascii: yes
	verbosity: 1
	log-servfail: yes
	# The lab's servers are on 127/8, which Unbound refuses to query by default.
	do-not-query-localhost: no
	# test. is an RFC 6761 special-use name Unbound answers itself by default.
	local-zone: "test." nodefault
	root-hints: %[6]q
	trust-anchor-file: %[7]q
	module-config: "validator iterator"
	# Extended DNS Errors with the validator's reason text (off by default).
	ede: yes
	val-log-level: 2
remote-control:
	control-enable: yes
	control-interface: %[8]s
`, addr, DNSPort, dir, path("unbound.pid"), path("unbound.log"), rootHints, trustAnchor, path("unbound.ctl"), netip.PrefixFrom(addr, 16).Masked())
	if err := os.WriteFile(u.conf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return u, nil
}

func (u *unboundServer) start() error {
	d, err := startDaemon("unbound "+u.name, filepath.Join(u.dir, "unbound.out"), false, "unbound", "-d", "-c", u.conf)
	if err != nil {
		return err
	}
	u.d = d
	return nil
}

func (u *unboundServer) stop() error {
	if u.d == nil {
		return nil
	}
	return u.d.stop()
}

// control runs one unbound-control command and returns its output.
func (u *unboundServer) control(args ...string) (string, error) {
	return run(u.dir, append([]string{"unbound-control", "-c", u.conf}, args...)...)
}

func (u *unboundServer) logTail(lines int) string {
	return fmt.Sprintf("--- unbound %s (%s) ---\n%s\n%s", u.name, u.dir,
		Tail(filepath.Join(u.dir, "unbound.log"), lines), Tail(filepath.Join(u.dir, "unbound.out"), lines))
}

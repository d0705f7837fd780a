package lab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// nsdServer is one NSD process serving a fixed set of zones on a set of
// addresses. The lab runs one per level of the tree (root, TLD, child zones)
// so that a referral really is needed to reach the next level: a single NSD
// serving every zone on every address would answer for good.test. at the
// root's address, and stopping or blackholing a child's nameservers would
// not make the child unreachable.
type nsdServer struct {
	name  string
	dir   string
	conf  string
	addrs []netip.Addr
	d     *daemon
}

// nsdZone is a zone an NSD serves and the (signed) file it reads.
type nsdZone struct{ name, file string }

// newNSD writes the configuration of an NSD named name, serving zones on
// addrs, with its state in dir.
func newNSD(dir, name string, addrs []netip.Addr, zones []nsdZone) (*nsdServer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	n := &nsdServer{name: name, dir: dir, conf: filepath.Join(dir, "nsd.conf"), addrs: addrs}
	var b strings.Builder
	b.WriteString("server:\n")
	for _, a := range addrs {
		fmt.Fprintf(&b, "\tip-address: %s@%d\n", a, DNSPort)
	}
	path := func(f string) string { return fmt.Sprintf("%q", filepath.Join(dir, f)) }
	fmt.Fprintf(&b, `	do-ip6: no
	username: ""
	chroot: ""
	database: ""
	zonefiles-write: 0
	zonesdir: %[1]q
	xfrdir: %[1]q
	zonelistfile: %[2]s
	xfrdfile: %[3]s
	pidfile: %[4]s
	logfile: %[5]s
	server-count: 1
	verbosity: 1
	hide-version: no
	identity: %[6]q
	nsid: "ascii_%[6]s"
	# Debian's NSD rate-limits 200 answers/s per source by default and
	# silently drops the rest: never in a lab.
	rrl-ratelimit: 0
	rrl-whitelist-ratelimit: 0
remote-control:
	control-enable: yes
	control-interface: %[7]s
`, dir, path("zone.list"), path("xfrd.state"), path("nsd.pid"), path("nsd.log"), name, path("nsd.ctl"))
	for _, z := range zones {
		fmt.Fprintf(&b, "zone:\n\tname: %q\n\tzonefile: %q\n", z.name, z.file)
	}
	if err := os.WriteFile(n.conf, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *nsdServer) start() error {
	d, err := startDaemon("nsd "+n.name, filepath.Join(n.dir, "nsd.out"), true, "nsd", "-d", "-c", n.conf)
	if err != nil {
		return err
	}
	n.d = d
	return nil
}

// stop stops the server; a never-started or stopped server is fine.
func (n *nsdServer) stop() error {
	if n.d == nil {
		return nil
	}
	return n.d.stop()
}

// reload makes NSD re-read one zone's file.
func (n *nsdServer) reload(zone string) error {
	_, err := run(n.dir, "nsd-control", "-c", n.conf, "reload", zone)
	return err
}

func (n *nsdServer) logTail(lines int) string {
	return fmt.Sprintf("--- nsd %s (%s) ---\n%s\n%s", n.name, n.dir,
		Tail(filepath.Join(n.dir, "nsd.log"), lines), Tail(filepath.Join(n.dir, "nsd.out"), lines))
}

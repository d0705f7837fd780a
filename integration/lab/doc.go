// Package lab runs real DNS software on loopback for reachmon's integration
// tests: a DNSSEC-signed tree (root, test., child zones) served by NSD and
// validating Unbound resolvers that trust only the lab's root.
//
//	l := lab.StartDNS(t, lab.DNSOptions{})          // good.test., broken.test., one resolver
//	l.ResolverAddrs[0]                              // "127.X.2.53:53"
//	l.Zones["good.test."].NS[1].AddrPort()          // "127.X.11.1:53"
//	l.BreakDNSKEY("broken.test.")                   // DNSKEY no longer matches the DS (Slack 2021)
//	l.RestoreDNSKEY("broken.test.")
//	l.StopAuth(); l.StartAuth(); l.FlushResolvers()
//	l.ResolverControl(0, "dump_infra")              // any unbound-control command
//
// # The tree
//
// Every zone is signed by ldns-signzone with one ECDSAP256SHA256 key
// (flags 257) from ldns-keygen; each parent holds its child's SHA-256 DS
// (ldns-key2ds), and the root's DS is the resolvers' trust-anchor-file.
//
//	.            a.root-servers.test.            Plan.Root()
//	test.        ns1.nic.test.                   Plan.TLD()
//	<zone i>     ns1.<zone i>, ns2.<zone i>      Plan.NS(i, 0), Plan.NS(i, 1)
//	www.<zone i> A                               Plan.WWW(i)
//
// Three NSD processes serve the three levels (root; test.; every child
// zone on every child nameserver address), so a resolver must follow real
// referrals and stopping the child servers makes the children unreachable.
// All listen on port 53, which referrals imply. NSD runs with username "",
// chroot "", database "", RRL off and a control socket in its directory;
// Unbound with its own configuration only (never Debian's), ede: yes,
// val-log-level: 2, do-not-query-localhost: no and local-zone "test."
// nodefault.
//
// # Addresses
//
// Each lab takes one /16 (see Plan for the layout). By default it is the
// first free 127.X.0.0/16 with X in 64..191, reserved with a flock(2) on
// $TMPDIR/reachmon-lab/127.X.0.0.lock for the test's lifetime: parallel
// tests and test binaries of different packages (go test ./...) never share
// addresses, and a crashed process releases its reservation (the empty
// lock files stay; deleting them could race with a process opening them). Any 127/8
// address can be bound on Linux without configuring it. DNSOptions.Base
// picks a /16 explicitly. The BGP part of the lab (issue 7) will run in a
// network namespace on 198.18.0.0/15 with the same Plan, because BIRD
// ignores 127/8 routes.
//
// # Files and processes
//
// Everything lives in one temporary directory (DNS.Dir): keys/, zones/,
// nsd-root/, nsd-tld/, nsd-auth/, unbound<j>/, each daemon's configuration,
// logs and control socket in its own directory. When the test ends every
// daemon is stopped (its whole process group) and the directory removed;
// if the test failed, the tail of every daemon's log is printed first. Set
// REACHMON_LAB_KEEP=1 to keep the directory. Daemons get SIGTERM if the test
// process dies without cleaning up (e.g. a -timeout panic).
//
// # Missing software
//
// StartDNS, and Require for other binaries, skip the test when a daemon or
// tool is not installed, naming the Debian packages
// (apt-get install -y nsd unbound ldnsutils); with CI=true they fail it.
//
// Start-up takes about 0.2-0.3 s on an idle 2-core machine (signing ~60 ms,
// NSD ~100 ms, Unbound's first validated answer ~20 ms) and is bounded by
// DNSOptions.StartTimeout; shutdown takes ~30 ms. Nothing sleeps for a fixed
// time: every wait polls with a deadline.
package lab

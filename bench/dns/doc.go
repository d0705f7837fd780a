// Package benchdns benchmarks the DNS probe engine (internal/dnsprobe)
// against a bare github.com/miekg/dns exchange loop, both aimed at the same
// real NSD on loopback in the same test process.
//
// The package holds no code of its own: everything is in its _test.go files.
// Run it through scripts/bench.sh (make bench), which repeats the run,
// takes medians and writes the results into BENCHMARKS.md; or by hand:
//
//	go test -run '^$' -bench . -benchtime 2s ./bench/dns/
//
// NSD must be installed (Debian package nsd). Without it the benchmarks
// skip, or fail when CI=true.
package benchdns

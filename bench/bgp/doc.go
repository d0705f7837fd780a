// Package benchbgp benchmarks the ingest of a full-table-sized BGP feed:
// a generated table (900,000 IPv4 and 200,000 IPv6 routes by default) is
// sent over one loopback session to gobgpd v3.37.0 alone (plain
// configuration, no policy) and to `reachmon run` watching 10,000
// prefixes, once with an ordinary neighbor (the embedded GoBGP speaker) and
// once with the neighbor marked full_table = true (reachmon's own session;
// its per-peer view is then checked route by route), in the same process
// one after the other, measuring time from Established to the end of
// ingest, routes per second and RSS.
//
// The package holds no code of its own: everything is in its _test.go
// files. Run it through scripts/bench.sh bgp (make bench), which repeats
// the run, takes medians and writes the results into BENCHMARKS.md; or by
// hand:
//
//	go build -o bin/reachmon ./cmd/reachmon
//	go test -run '^$' -bench . -benchtime 1x -timeout 30m ./bench/bgp/
//
// gobgpd is taken from $REACHMON_GOBGPD / $REACHMON_GOBGP or built once
// into ~/.cache/reachmon/gobgp-v3.37.0 (as integration/bgplab does);
// reachmon from $BENCH_BGP_REACHMON or bin/reachmon. Without them the
// benchmarks skip, or fail when CI=true. Everything runs on 127.0.0.0/8.
//
// TestHeapProfile (run only with BENCH_BGP_PROFILE=DIR) runs the feed
// (internal/bgp.Feed) in this process instead of reachmon, with the same
// configuration, and writes heap and CPU profiles into DIR.
package benchbgp

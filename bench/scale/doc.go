// Package benchscale is the scale benchmark of issues 8 and 18: the real `reachmon
// run` watching 10,000 zones through 3 resolvers and the zones'
// authoritative servers on a 60 s interval for 10 minutes, measured from
// the outside: CPU use, RSS over time, probe-loop lag
// (reachmon_probe_schedule_lag_seconds), missed intervals
// (reachmon_probe_skipped_total and the number of checks done in each
// interval against the number planned) and the probe success rate.
//
// The lab is real software on one 127.X.0.0/16 (X in 200..215, reserved
// with a flock so that two runs never share it): a DNSSEC-signed root,
// the TLD test. and 10,000 child zones z00001.test. … (signed in this
// process with github.com/miekg/dns: one ECDSAP256SHA256 key per zone,
// an NSEC chain, DS records at the parent), served by three NSD processes
// (root; test.; a DNS host whose nameservers ns1…nsN.dnshost.test. each
// serve every child zone), and three validating Unbound resolvers that
// reach the zones by following delegations from the root. reachmon
// discovers each zone's authoritative servers itself, as a user's
// configuration would have it.
//
// The package holds no code of its own: everything is in its _test.go
// files. Run it through scripts/bench.sh scale (make bench), which repeats
// the run, takes medians and writes the results into BENCHMARKS.md; or by
// hand, as root:
//
//	go build -o bin/reachmon ./cmd/reachmon
//	BENCH_SCALE_DURATION=3m BENCH_SCALE_ZONES=1000 \
//	    go test -run '^$' -bench . -benchtime 1x -timeout 60m ./bench/scale/
//
// Environment: BENCH_REACHMON_BIN (the reachmon binary; default
// bin/reachmon), BENCH_SCALE_DURATION (default 10m), BENCH_SCALE_ZONES
// (default 10000), BENCH_SCALE_NS (nameserver addresses of the DNS host,
// default 2), BENCH_SCALE_TTL (TTL of every record, default 300s),
// BENCH_SCALE_INTERVAL (probe interval, default 60s; for development
// only), BENCH_SCALE_JITTER ([probe] jitter; default reachmon's, the whole
// interval; for experiments), BENCH_SCALE_LOOKUPS ([probe]
// lookup_concurrency; default reachmon's; for experiments),
// BENCH_SCALE_WORKDIR (where the lab's files and the results go;
// scripts/bench.sh sets it; default a temporary directory, removed
// afterwards unless BENCH_SCALE_KEEP=1).
//
// NSD and Unbound must be installed (Debian packages nsd unbound) and the
// benchmark needs root (port 53 on loopback addresses). Without them it
// skips, or fails when CI=true. `go test ./bench/scale/` without -bench
// runs quick checks of the signer, the configuration and the arithmetic,
// a 20-zone lab when it can (a couple of seconds), and TestShards (issue
// 18, about 75 s): two `reachmon run` shards ([shard] 0 and 1 of 2) over a
// 400-zone lab, checking that every zone is owned and probed by exactly
// one (Unbound's query log) and that one zone's outage pages once.
//
// scripts/bench.sh scale50k runs the benchmark at 50,000 zones into its
// own section of BENCHMARKS.md. Per-zone probe counts come from the
// /api/v1/status?zone= detail of 200 sampled zones (sample_test.go):
// Prometheus has no per-zone probe series since issue 18.
//
// TestProfile (only with BENCH_SCALE_PROFILE=DIR) runs the daemon in this
// process against the same lab and writes CPU and heap profiles: reachmon
// has no pprof endpoint. See FINDINGS.md for what they showed.
package benchscale

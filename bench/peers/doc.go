// Package benchpeers compares reachmon's DNS checks with peer tools on the
// same work (issue 8): the same set of checks (40 zones' names x types,
// asked of 4 validating resolvers and of each zone's 2 authoritative
// servers, on integration/lab's DNSSEC lab on 127.X.0.0/16) done by
// `reachmon run` and by prometheus-blackbox-exporter driven by a scraper
// at the same rate: CPU seconds and memory per 10,000 checks, and the
// highest sustainable rate of each; dnsperf against the same servers with
// the same questions is the ceiling. Every tool is a separate process
// measured from the outside (/proc, and reachmon's own /metrics).
//
// The package holds no code of its own: everything is in its _test.go
// files. Run it through scripts/bench.sh dnspeers (make bench), which
// repeats the run, takes medians and writes the results into
// BENCHMARKS.md; or by hand, as root (the lab binds port 53 on loopback
// addresses), about 2.5 minutes:
//
//	go build -o bin/reachmon ./cmd/reachmon
//	go test -run '^$' -bench . -benchtime 1x -timeout 30m ./bench/peers/
//
// reachmon is taken from $BENCH_REACHMON_BIN or bin/reachmon,
// blackbox_exporter from $BENCH_BLACKBOX_BIN or
// prometheus-blackbox-exporter on PATH, dnsperf from PATH (Debian packages
// prometheus-blackbox-exporter and dnsperf: scripts/install-bench-deps.sh),
// NSD, Unbound and ldnsutils as integration/lab needs them. Without them
// (or without root) the benchmark skips, or fails when CI=true. Every
// process runs in its own process group and is stopped at the end or on
// SIGINT/SIGTERM; $BENCH_DNSPEERS_WORKDIR (set by scripts/bench.sh) gets
// their files and NAME.pgid files for cleaning up after a crash.
//
// Set BENCH_DNSPEERS_PERF=DIR to record each reachmon window with
// `perf record -g` into DIR (for `perf report`).
//
// The tests (TestCheckSetMatchesSchedule, TestBlackboxConfig) need no
// daemon and run in `go test ./...`.
package benchpeers

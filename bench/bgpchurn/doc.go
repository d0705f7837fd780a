// Package bgpchurn measures reachmon's steady-state memory under BGP churn:
// the real `reachmon run` binary watches 10,000 prefixes (with their
// expected origin ASNs) fed by two BGP sessions on 127.0.0.0/8; a sender in
// the test process announces them (and 20,000 unwatched routes), then
// churns for 10 minutes at about 1,000 UPDATEs per second: AS-path and
// origin changes, withdrawals and re-announcements, more-specifics that
// appear and go (some never seen before), a few hijacks and long
// withdrawals that open incidents (feed_test.go describes the mix). Every
// 5 s the benchmark reads reachmon's RSS and CPU from /proc and its Go
// heap, goroutines, BGP counters and incidents from /metrics, keeps the
// time series, checks that reachmon counted every change it was sent, and
// reports whether memory stayed flat: the least-squares slope and the
// end-minus-start difference of RSS and of heap in use over the steady
// part of the run (after a 2-minute warm-up), against the bounds in
// bench_test.go (flatSlope, flatDelta).
//
// The package holds no code of its own: everything is in its _test.go
// files. Run it through scripts/bench.sh bgpchurn (make bench), which
// builds reachmon, repeats the run, takes medians and writes the results
// into BENCHMARKS.md; or by hand:
//
//	go build -o bin/reachmon ./cmd/reachmon
//	BENCH_BGPCHURN_DURATION=2m go test -run '^$' -bench . -benchtime 1x -timeout 30m ./bench/bgpchurn/
//
// Environment:
//
//	BENCH_REACHMON_BIN        the reachmon binary (default ../../bin/reachmon)
//	BENCH_BGPCHURN_DURATION   churn duration (default 10m)
//	BENCH_BGPCHURN_WARMUP     excluded from the steady window (default 2m, at most a quarter of the duration)
//	BENCH_BGPCHURN_RATE       UPDATE messages per second over both sessions (default 1000)
//	BENCH_BGPCHURN_SAMPLE     sampling interval (default 5s)
//	BENCH_BGPCHURN_FRESH      share of updates for never-seen-before more-specifics, percent (default 2)
//	BENCH_BGPCHURN_WORKDIR    daemon files and .pgid files (scripts/bench.sh sets it)
//	BENCH_BGPCHURN_OUT        where the time series (series-*.csv) are kept (default: the work directory)
//
// Without the reachmon binary the benchmark skips, or fails when CI=true.
//
// TestChurnProfile (run only with BENCH_BGPCHURN_PROFILE=DIR) runs the same
// daemon (internal/app, as `reachmon run` builds it) and the same churn in
// this process and writes heap profiles at the start and at the end of the
// steady window, a CPU profile of the steady window and the live heap after
// a forced GC every 30 s, to find what grows and what costs:
//
//	BENCH_BGPCHURN_PROFILE=/tmp/prof go test -run TestChurnProfile -timeout 30m ./bench/bgpchurn/
//	go tool pprof -sample_index=inuse_space -base /tmp/prof/heap-steady-start.pprof /tmp/prof/heap-end.pprof
//
// TestEvaluatorRetention (also only with BENCH_BGPCHURN_PROFILE) measures,
// in under a second and without a network, what the evaluator keeps of a
// more-specific that came and went, two hours later.
package bgpchurn

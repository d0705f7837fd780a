// Package benchbmp benchmarks the ingest of a full-table-sized BGP feed
// through BMP (issue 16): the generated table of bench/fulltable (900,000
// IPv4 and 200,000 IPv6 routes by default, the one bench/bgp sends over a
// BGP session) is sent by one router over one BMP session (RFC 7854:
// Initiation, Peer Up of one monitored peer, one Route Monitoring message
// per UPDATE, ending with both End-of-RIB markers) to `reachmon run` with
// `[bmp] listen` and the router in `[[bmp.router]]`, watching 10,000
// prefixes and no [[bgp.neighbor]]. It measures the time from the BMP
// connection to the end of ingest, routes per second and RSS, the same way
// bench/bgp measures the embedded peer (scripts/bench.sh bmp runs both).
//
// The package holds no code of its own: everything is in its _test.go
// files. Run it through scripts/bench.sh bmp (make bench), or by hand:
//
//	go build -o bin/reachmon ./cmd/reachmon
//	go test -run '^$' -bench . -benchtime 1x -timeout 30m ./bench/bmp/
//
// reachmon is $BENCH_BMP_REACHMON or bin/reachmon; without it, or when it
// has no BMP station (refuses [bmp]), the benchmark skips, or fails when
// CI=true. Everything runs on 127.0.0.0/8. The table's sizes follow
// BENCH_BGP_V4 / BENCH_BGP_V6 / BENCH_BGP_WATCH as in bench/bgp.
package benchbmp

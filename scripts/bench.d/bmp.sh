# shellcheck shell=bash
# bench_bmp: the full table of bench/bgp (900k IPv4 + 200k IPv6 routes,
# bench/fulltable) from one router through one BMP session to `reachmon
# run` with [bmp] and 10,000 watched prefixes (bench/bmp), beside the same
# table over the embedded BGP peer (bench/bgp's reachmon receiver, run here
# too so that both are measured on the same machine at the same time).
# Sourced by scripts/bench.sh, which provides run_rounds, stats, getstat,
# num, machine, meta, update_section, findings_link, log, $GO, $WORK,
# $RESULTS, $ROOT, $ROUNDS, $REUSE.

if [[ " ${BENCHES[*]} " != *" bmp "* ]]; then
	BENCHES+=(bmp)
fi

bench_bmp() {
	local out="$RESULTS/bmp" emb="$RESULTS/bmpembedded" md="$WORK/bmp.md" st="$WORK/bmp.stats"
	local BENCHTIME=1x
	if [ "$REUSE" != 1 ]; then
		log "bmp: building reachmon"
		"$GO" build -o "$WORK/reachmon" ./cmd/reachmon
		export BENCH_BMP_REACHMON="$WORK/reachmon" BENCH_BGP_REACHMON="$WORK/reachmon"
	fi
	run_rounds bmp ./bench/bmp/ -test.timeout 60m -test.v
	# The embedded peer: bench/bgp's reachmon receiver alone (the later
	# -test.bench wins over run_rounds' own).
	run_rounds bmpembedded ./bench/bgp/ -test.timeout 60m -test.bench '^BenchmarkIngest$/^reachmon$'
	local rounds=("$out"/round-*.txt) erounds=("$emb"/round-*.txt)
	stats "${rounds[@]}" "${erounds[@]}" >"$st"
	local b=BenchmarkIngest/reachmon-bmp e=BenchmarkIngest/reachmon feedline skipped=""
	feedline=$(sed -n 's/^# feed: //p' "${rounds[0]}" | head -1)
	if ! grep -qE "^$b(-[0-9]+)?[[:space:]]+[0-9]" "${rounds[@]}"; then
		skipped=$(grep -h -m1 -o 'this reachmon has no BMP station ([^)]*)' "${rounds[0]}" || true)
		[ -n "$skipped" ] || skipped="BenchmarkIngest/reachmon-bmp did not run; see ${out#"$ROOT"/}/round-1.txt"
	fi
	f1() { getstat "$st" "$1" "$2" "$3" | awk '{ printf($1 == "nan" ? "–" : "%.1f", $1) }'; }
	# ratio UNIT: BMP / embedded, of the medians.
	ratio() {
		awk -v x="$(getstat "$st" "$b" "$1" med)" -v y="$(getstat "$st" "$e" "$1" med)" \
			'BEGIN { if (x == "nan" || y == "nan" || y == 0) print "–"; else printf "%.2f×", x / y }'
	}
	{
		cat <<END_METHOD
## BMP full-table ingest: reachmon's BMP station vs its embedded peer

Method (\`bench/bmp\`, run by \`scripts/bench.sh bmp\`):

- Feed: the table of the BGP benchmark (\`bench/fulltable\`, same seed): ${feedline:-900,000 IPv4 + 200,000 IPv6 routes; 10,000 watched prefixes (half of them routes of the feed)}.
- BMP sender: one router in the test process (\`bench/bmp/stream_test.go\`) connecting from
  127.0.0.3 to reachmon's \`[bmp] listen\` on 127.0.0.1: Initiation (sysName, sysDescr), Peer Up
  of one monitored peer (127.0.0.2, AS65100, 4-octet AS in both OPENs), then one pre-policy
  Route Monitoring message per UPDATE of the table (End-of-RIB for both families last). The
  stream is encoded before the connection and written as fast as reachmon reads it.
- **reachmon BMP** = \`reachmon run\` with \`[bmp] listen\` and the router in \`[[bmp.router]]\`,
  10,000 \`[[prefix]]\` entries, no \`[[bgp.neighbor]]\`, no zones or resolvers.
  **reachmon embedded peer** = bench/bgp's reachmon receiver in the same run (\`[bgp]\` with one
  passive neighbor, the same table over one BGP session; see the BGP section for its method).
- Ingest time: from the BMP connection (embedded: from Established) to the end of reachmon's
  work by the BGP benchmark's rule (CPU sampled every 50 ms from /proc; the ingest ends at the
  last 50 ms with ≥ 20 ms of CPU, followed by 3 s of quiet). routes/s = routes / ingest time.
  *eor s*: when \`/api/v1/peers\` showed the peer synced. *send s*: until the sender had written
  everything. *CPU s*: reachmon's CPU during the ingest. *peak*: VmHWM; *steady*: VmRSS 3 s
  after the ingest; *idle*: VmRSS before the connection.
- Checked after each ingest: \`/api/v1/peers\` lists exactly one peer (the router's monitored
  peer), synced, with exactly the routes of the feed inside watched prefixes.
- ${ROUNDS} round(s) (\`-benchtime 1x\`) of each, medians over the rounds. Raw output:
  \`${out#"$ROOT"/}/raw.txt\`, \`${emb#"$ROOT"/}/raw.txt\`.
$(machine "$out")
- The embedded peer's rounds ran after the BMP rounds: load average $(meta "$emb" load_start) when they started,
  $(meta "$emb" load_end) when they ended.
END_METHOD
		if [ -n "$skipped" ]; then
			printf '\n**BMP not measured**: %s\n' "$skipped"
		fi
		cat <<END_HEAD

| Receiver | ingest s (min–max) | routes/s (min–max) | eor s | send s | CPU s | peak RSS MiB (min–max) | steady RSS MiB | idle RSS MiB |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
END_HEAD
		local n label
		for n in "$e" "$b"; do
			label="reachmon embedded peer"
			[ "$n" = "$e" ] || label="reachmon BMP"
			printf '| %s | %s (%s–%s) | %s (%s–%s) | %s | %s | %s | %s (%s–%s) | %s | %s |\n' "$label" \
				"$(f1 "$n" ingest-s med)" "$(f1 "$n" ingest-s min)" "$(f1 "$n" ingest-s max)" \
				"$(num "$(getstat "$st" "$n" routes/s med)")" "$(num "$(getstat "$st" "$n" routes/s min)")" "$(num "$(getstat "$st" "$n" routes/s max)")" \
				"$(f1 "$n" eor-s med)" "$(f1 "$n" send-s med)" "$(f1 "$n" cpu-s med)" \
				"$(num "$(getstat "$st" "$n" peak-MiB med)")" "$(num "$(getstat "$st" "$n" peak-MiB min)")" "$(num "$(getstat "$st" "$n" peak-MiB max)")" \
				"$(num "$(getstat "$st" "$n" steady-MiB med)")" "$(num "$(getstat "$st" "$n" idle-MiB med)")"
		done
		printf '\nBMP / embedded peer (medians): ingest rate %s, CPU %s, peak RSS %s.\n' \
			"$(ratio routes/s)" "$(ratio cpu-s)" "$(ratio peak-MiB)"
		findings_link bmp
	} >"$md"
	update_section bmp "$md"
	cat "$md"
}

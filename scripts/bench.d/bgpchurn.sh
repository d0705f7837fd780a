# shellcheck shell=bash
# bench_bgpchurn: reachmon's steady-state memory under BGP churn
# (bench/bgpchurn). Sourced by scripts/bench.sh, which provides run_rounds,
# stats, getstat, num, machine, meta, update_section, log, $GO, $WORK,
# $RESULTS, $ROOT, $ROUNDS, $REUSE.
#
# Each round is one process running BenchmarkChurn once (-benchtime 1x):
# `reachmon run` (built here, or $BENCH_REACHMON_BIN) fed by two BGP
# sessions on 127.0.0.0/8 with 10,000 watched prefixes, churning for
# $BENCH_BGPCHURN_DURATION (default 10m) at about 1,000 UPDATEs/s. The
# time series of each round are kept in $RESULTS/bgpchurn/series-*.csv.

if [[ " ${BENCHES[*]} " != *" bgpchurn "* ]]; then
	BENCHES+=(bgpchurn)
fi

bench_bgpchurn() {
	local out="$RESULTS/bgpchurn" md="$WORK/bgpchurn.md" st="$WORK/bgpchurn.stats"
	local BENCHTIME=1x dur=${BENCH_BGPCHURN_DURATION:-10m} secs
	secs=$(duration_secs "$dur")
	[ "$secs" -gt 0 ] || { log "bgpchurn: BENCH_BGPCHURN_DURATION=$dur is not a duration"; return 1; }
	if [ "$REUSE" != 1 ]; then
		if [ -z "${BENCH_REACHMON_BIN:-}" ]; then
			log "bgpchurn: building reachmon"
			"$GO" build -o "$WORK/reachmon" ./cmd/reachmon
			BENCH_REACHMON_BIN="$WORK/reachmon"
		fi
		export BENCH_REACHMON_BIN BENCH_BGPCHURN_OUT="$out"
		log "bgpchurn: $ROUNDS round(s) of $dur of churn each (plus about a minute of setup)"
	fi
	# Every round: the churn, its setup (~30 s) and drain; generous bound.
	run_rounds bgpchurn ./bench/bgpchurn/ -test.timeout "$((secs + 1200))s"
	local rounds=("$out"/round-*.txt)
	stats "${rounds[@]}" >"$st"
	local n=BenchmarkChurn r1=${rounds[0]}
	# "# bgpchurn-KEY: VALUE" lines that the benchmark printed in round 1.
	line() { sed -n "s/^# bgpchurn-$1: //p" "$r1" | head -1; }
	# KEY=VALUE from such a line.
	field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -1; }
	f1() { getstat "$st" "$n" "$1" "$2" | awk '{ printf($1 == "nan" ? "–" : "%.1f", $1) }'; }
	f2() { getstat "$st" "$n" "$1" "$2" | awk '{ printf($1 == "nan" ? "–" : "%.2f", $1) }'; }
	f3() { getstat "$st" "$n" "$1" "$2" | awk '{ printf($1 == "nan" ? "–" : "%+.3f", $1) }'; }
	f4() { getstat "$st" "$n" "$1" "$2" | awk '{ printf($1 == "nan" ? "–" : "%.4f", $1) }'; }
	pct() { awk -v x="$1" 'BEGIN { printf "%.1f%%", 100 * x }'; }
	# row LABEL UNIT FORMAT: median (min–max) over the rounds.
	row() {
		local fmt=$3
		printf '| %s | %s (%s–%s) |\n' "$1" "$($fmt "$2" med)" "$($fmt "$2" min)" "$($fmt "$2" max)"
	}
	numf() { num "$(getstat "$st" "$n" "$1" "$2")"; }
	local params mix ev exp nflat nr verdicts warm
	params=$(line params)
	mix=$(line mix)
	ev=$(line events)
	exp=$(line expected)
	warm=$(field "$params" warmup)
	nr=${#rounds[@]}
	nflat=$(awk '$1 ~ /^BenchmarkChurn/ { for (i = 3; i < NF; i += 2) if ($(i+1) == "flat" && $i == 1) f++ } END { print f + 0 }' "${rounds[@]}")
	verdicts=$(for f in "${rounds[@]}"; do
		printf -- '- %s: %s (load average %s). Log: %s.\n' "$(basename "$f" .txt)" \
			"$(sed -n 's/^# bgpchurn-verdict: //p' "$f" | head -1)" \
			"$(sed -n 's/^# bgpchurn-load: //p' "$f" | head -1 | sed 's/start=/at the start /; s/ end=/, at the end /')" \
			"$(sed -n 's/^# bgpchurn-stalls: //p' "$f" | head -1 | sed 's/`/'"'"'/g')"
	done)
	# The verdict: the medians over the rounds against the definition's
	# bounds (the benchmark prints them in its params line).
	local fs fd ok
	fs=$(field "$params" flat_slope)
	fd=$(field "$params" flat_delta)
	ok=$(awk -v fs="$fs" -v fd="$fd" -v rs="$(getstat "$st" "$n" rss-slope-MiB/min med)" \
		-v rd="$(getstat "$st" "$n" rss-delta-MiB med)" -v hs="$(getstat "$st" "$n" heap-slope-MiB/min med)" \
		-v hd="$(getstat "$st" "$n" heap-delta-MiB med)" 'BEGIN {
		if (fs == "" || rs == "nan" || hs == "nan") { print "NOT met (no data)"; exit }
		print (rs <= fs && rd <= fd && hs <= fs && hd <= fd) ? "met" : "NOT met"
	}')
	{
		cat <<EOF
## BGP churn: steady-state memory

Method (\`bench/bgpchurn\`, run by \`scripts/bench.sh bgpchurn\`):

- **reachmon**: the \`reachmon run\` binary built from this tree, one fresh process per round,
  configured with $(num "$(field "$params" watched)") \`[[prefix]]\` entries ($(num "$(field "$params" watched6)") of them IPv6; IPv4 /16–/24,
  IPv6 /32–/48, none inside another), each with two expected origin ASNs; two passive
  \`[[bgp.neighbor]]\`s (127.0.0.2 AS65101 and 127.0.0.3 AS65102, reachmon listening on
  127.0.0.1); no resolvers and no zones (no DNS traffic), no Slack; every other setting at its
  default (log level info; evaluator open_after 30s, bgp_resolve_after 5m, min_peers 2,
  start_grace 2m, fade_off 10m).
- **Sender**: two minimal BGP speakers in the test process (GoBGP's packet encoder, one prefix
  per UPDATE). Each first announces every watched prefix (with its first expected origin) and
  $(num "$(field "$params" noise)") unwatched routes (which reachmon's import policy rejects), then End-of-RIB. Once
  reachmon shows both peers synced with $(num "$(field "$params" watched)") routes each, they churn for ${dur} at
  $(num "$(field "$params" rate)") UPDATEs/s in all (10 ms pacing), deterministic (fixed seed). Watched-prefix events fall
  90% on a hot set of $(num "$(field "$params" hot)") prefixes (churn concentrates on a few prefixes in real feeds), 10% on
  all of them. Share of the UPDATEs by class (round 1):
$(sed -n 's/^# bgpchurn-class: //p' "$r1" | awk '{ n = $1; sh = $2; $1 = ""; $2 = ""; sub(/^ +/, ""); printf "  - *%s* %.2f%%: %s;\n", n, 100 * sh, $0 }')
  Round 1 sent $(num "$(field "$ev" fresh)") never-seen more-specifics; the changes reachmon should count were
  ${exp}.
- **Measured from the outside** every $(field "$params" sample) (\`bench/benchutil\`): reachmon's RSS, VmHWM and CPU
  from /proc; from its /metrics \`go_memstats_heap_inuse_bytes\`, \`go_memstats_next_gc_bytes\` (the
  heap goal: about twice the live heap at the last GC), \`go_goroutines\`,
  \`reachmon_bgp_updates_total\`, \`reachmon_bgp_events_dropped_total\`, \`reachmon_incidents_open\`,
  \`reachmon_incident_transitions_total\`; the incident store file's size and records. Raw time
  series: \`${out#"$ROOT"/}/series-*.csv\`.
- **Flat memory**, the definition: over the *steady window* (the churn after a warm-up of ${warm}),
  for RSS and for heap in use alike, the least-squares slope is at most $(field "$params" flat_slope) MiB/min
  **and** the end-minus-start difference (mean of the samples in the window's last minute minus
  mean of those in its first minute) is at most $(field "$params" flat_delta) MiB; judged on the medians over the rounds.
  That is about the resolution of the default 8-minute window here: transient allocations (the
  /metrics scrape itself, status snapshots, GoBGP's watch events) make heap in use swing by
  ±10–20 MiB between samples; the slope's standard error from the residuals (as if they were
  independent: a lower bound) is in the table. *counted*: reachmon's own count of
  changes to watched routes (\`reachmon_bgp_updates_total\`), per second of churn and as a share
  of the changes the sender's model says it should count (announce, withdraw, origin_change,
  path_change, more_specific, as reachmon classifies them). *CPU per 1,000 UPDATEs*: reachmon's
  CPU over the steady window per 1,000 UPDATEs sent (watched or not); *net*: without the
  benchmark's own /metrics scrapes, whose cost is measured after the churn (20 scrapes back to
  back, reachmon idle otherwise). *Silences*: reachmon logs the route events that can page
  (withdrawals, origin changes, more-specifics; announcements and path changes only at debug)
  at info level from the goroutine that owns the evaluator (~300 lines/s here), so a gap of 1 s or more
  between log lines is that loop standing still; its queue holds 1,024 events, so such a stall
  is when *events dropped* grows (the feed then sends the evaluator a snapshot).
- ${nr} round(s) (\`-benchtime 1x\`), medians with min–max over the rounds. Raw output:
  \`${out#"$ROOT"/}/raw.txt\`.
$(machine "$out")

| | median (min–max) |
|---|---:|
$(row "UPDATEs sent per second" updates/s f1)
$(row "of which watched prefixes and their more-specifics, per second" watched-updates/s f1)
$(row "changes counted by reachmon per second" counted/s f1)
$(row "counted / expected" counted-ratio f4)
$(row "events dropped (feed + evaluator queues)" dropped f1)
$(row "resyncs" resyncs f1)
$(row "initial table: sessions up to both peers synced, s" initial-s f1)
$(row "RSS, mean over the steady window, MiB" rss-MiB f1)
$(row "RSS slope, MiB/min" rss-slope-MiB/min f3)
$(row "RSS slope standard error, MiB/min" rss-slope-se f2)
$(row "RSS end − start, MiB" rss-delta-MiB f2)
$(row "peak RSS (VmHWM), MiB" peak-MiB f1)
$(row "heap in use, mean, MiB" heap-MiB f1)
$(row "heap in use slope, MiB/min" heap-slope-MiB/min f3)
$(row "heap in use slope standard error, MiB/min" heap-slope-se f2)
$(row "heap in use end − start, MiB" heap-delta-MiB f2)
$(row "heap goal slope, MiB/min" goal-slope-MiB/min f3)
$(row "goroutines, max" goroutines-max f1)
$(row "goroutines end − start" goroutines-delta f1)
$(row "CPU per 1,000 UPDATEs, ms" cpu-ms/1k-updates f1)
$(row "CPU per 1,000 UPDATEs without the benchmark's scrapes (net), ms" net-cpu-ms/1k-updates f1)
$(row "CPU of one /metrics scrape, ms" scrape-cpu-ms f1)
$(row "CPU, cores" cpu-cores f2)
$(row "incidents opened during the churn" incidents-opened f1)
$(row "incidents resolved during the churn" incidents-resolved f1)
$(row "incidents open at the end" incidents-open f1)
$(row "incident store at the end, KiB" store-KiB f1)
$(row "reachmon's log, KiB/s" log-KiB/s f1)
$(row "silences of 1 s or more in reachmon's log during the churn" stalls f1)
$(row "longest silence, s" stall-max-s f1)

Verdict — flat memory, no growth: **${ok}** (medians over ${nr} round(s); ${nflat} of ${nr} round(s) flat on
their own). Per round:

${verdicts}
EOF
		findings_link bgpchurn
	} >"$md"
	update_section bgpchurn "$md"
	cat "$md"
}

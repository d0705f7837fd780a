# shellcheck shell=bash
# bench_dnspeers: the same DNS checks done by reachmon and by
# prometheus-blackbox-exporter driven by a scraper, with dnsperf against
# the same servers as the ceiling (bench/peers, issue 8). Sourced by
# scripts/bench.sh, which provides run_rounds, stats, ratios, fmt_ratio,
# getstat, num, machine, meta, update_section, log, $GO, $WORK, $RESULTS,
# $ROOT, $ROUNDS, $REUSE.
#
# Each round is one process running BenchmarkPeers once (-benchtime 1x,
# about 2.5 minutes, as root): a fresh DNS lab (integration/lab: NSD and 4
# validating Unbound on 127.X.0.0/16), then the cost of the check set at
# 1,000 checks/s in reachmon and in blackbox_exporter, the highest
# sustainable rate of each (a ramp of fresh processes), and dnsperf.

if [[ " ${BENCHES[*]} " != *" dnspeers "* ]]; then
	BENCHES+=(dnspeers)
fi

# dp_vals NAME UNIT FILE...: UNIT of benchmark NAME in each round file,
# one line per file ("nan" when absent).
dp_vals() {
	local name=$1 unit=$2 f
	shift 2
	for f in "$@"; do
		awk -v name="$name" -v unit="$unit" '
		/^Benchmark/ {
			n = $1; sub(/-[0-9]+$/, "", n)
			if (n == name) for (i = 3; i < NF; i += 2) if ($(i+1) == unit) v = $i
		}
		END { print (v == "" ? "nan" : v) }' "$f"
	done
}

# dp_median: MEDIAN MIN MAX N of the numbers on stdin ("nan" lines skipped).
dp_median() {
	awk '$1 != "nan" && $1 != "" { a[++n] = $1 }
	END {
		if (n == 0) { print "nan nan nan 0"; exit }
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
		m = n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
		printf "%.3f %.3f %.3f %d\n", m, a[1], a[n], n
	}'
}

# dp_f DIGITS STATSFILE NAME UNIT FIELD: a statistic with DIGITS decimals.
dp_f() {
	getstat "$2" "$3" "$4" "$5" | awk -v d="$1" '{ if ($1 == "nan") print "–"; else printf("%." d "f\n", $1) }'
}

# dp_mmm DIGITS STATSFILE NAME UNIT: "median (min–max)".
dp_mmm() {
	local m lo hi
	if [ "$1" = n ]; then
		m=$(num "$(getstat "$2" "$3" "$4" med)") lo=$(num "$(getstat "$2" "$3" "$4" min)") hi=$(num "$(getstat "$2" "$3" "$4" max)")
	else
		m=$(dp_f "$1" "$2" "$3" "$4" med) lo=$(dp_f "$1" "$2" "$3" "$4" min) hi=$(dp_f "$1" "$2" "$3" "$4" max)
	fi
	if [ "$m" = "–" ]; then echo "–"; else echo "$m ($lo–$hi)"; fi
}

# dp_line FILE PREFIX: the first line of FILE starting with "# PREFIX", without it.
dp_line() { sed -n "s/^# $2//p" "$1" | head -1; }

# dp_steps FILE TOOL: the ramp of one round, "4,000 held · 8,000 failed (why) · …".
dp_steps() {
	awk -v tool="$2" '
	function commas(x,    s, o) { s = sprintf("%.0f", x); o = ""; while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }; return s o }
	$1 == "#" && $2 == "step" && $3 == "maxrate" && $4 == tool {
		sub(/^offered=/, "", $5)
		v = $0; sub(/^.* (held|failed: )/, "", v)
		if ($0 ~ / held$/) s = commas($5) " held"; else s = commas($5) " failed (" v ")"
		out = out (out == "" ? "" : " · ") s
	}
	END { print out }' "$1"
}

bench_dnspeers() {
	local out="$RESULTS/dnspeers" md="$WORK/dnspeers.md" st="$WORK/dnspeers.stats"
	local BENCHTIME=1x
	if [ "$REUSE" != 1 ]; then
		if [ -z "${BENCH_REACHMON_BIN:-}" ]; then
			log "dnspeers: building reachmon"
			"$GO" build -o "$WORK/reachmon" ./cmd/reachmon
			BENCH_REACHMON_BIN="$WORK/reachmon"
		fi
		export BENCH_REACHMON_BIN
		log "dnspeers: $ROUNDS round(s) of about 2.5 minutes each (root: the lab binds port 53 on 127.X addresses)"
	fi
	run_rounds dnspeers ./bench/peers/ -test.timeout 30m
	local rounds=("$out"/round-*.txt)
	stats "${rounds[@]}" >"$st"
	local r1=${rounds[0]}
	local cr=BenchmarkPeers/cost/reachmon cb=BenchmarkPeers/cost/blackbox crb=BenchmarkPeers/cost/reachmon-bursts cbb=BenchmarkPeers/cost/blackbox-bursts
	local mr=BenchmarkPeers/maxrate/reachmon mb=BenchmarkPeers/maxrate/blackbox
	local pn=BenchmarkPeers/dnsperf/nsd pu=BenchmarkPeers/dnsperf/unbound pm=BenchmarkPeers/dnsperf/mix

	# Ratios within each round.
	local r_cpu r_cpus r_rss r_rate r_mix r_nsd
	r_cpu=$(ratios "$cb" "$cr" cpu-s/10k-checks "${rounds[@]}")
	local r_cpub
	r_cpub=$(ratios "$cbb" "$crb" cpu-s/10k-checks "${rounds[@]}")
	r_cpus=$(paste <(dp_vals "$cb" cpu-s/10k-checks "${rounds[@]}") <(dp_vals "$cb" scraper-cpu-s/10k-checks "${rounds[@]}") \
		<(dp_vals "$cr" cpu-s/10k-checks "${rounds[@]}") |
		awk '$1 != "nan" && $2 != "nan" && $3 != "nan" && $3 > 0 { print ($1 + $2) / $3 }' | dp_median)
	r_rss=$(ratios "$cb" "$cr" rss-MiB "${rounds[@]}")
	r_rate=$(ratios "$mr" "$mb" max-checks/s "${rounds[@]}")
	r_mix=$(ratios "$mr" "$pm" max-checks/s "${rounds[@]}")
	r_nsd=$(ratios "$mr" "$pn" max-checks/s "${rounds[@]}")
	local ok_cost ok_rate
	ok_cost=$(awk -v a="${r_cpu%% *}" 'BEGIN { print (a != "nan" && a + 0 >= 5) ? "met" : "NOT met" }')
	ok_rate=$(awk -v a="${r_mix%% *}" 'BEGIN { print (a != "nan" && a + 0 >= 0.5) ? "met" : "NOT met" }')

	local labline tools qr qb other_max
	labline=$(dp_line "$r1" "lab: " | sed 's/, ready in.*//; s/2640/2,640/; s/1920/1,920/')
	tools=$(dp_line "$r1" "tools: " | sed "s/^reachmon reachmon /reachmon /")
	qr=$(dp_line "$r1" "query reachmon: ")
	qb=$(dp_line "$r1" "query blackbox: ")
	other_max=$(awk '$2 == "other-cores" && $3 > m { m = $3 } END { printf "%.2f", m }' "$st")
	local nsdv unbv
	nsdv=$({ nsd -v 2>&1 || /usr/sbin/nsd -v 2>&1; } | sed -n 's/^NSD version //p' | head -1 || true)
	unbv=$({ unbound -V 2>&1 || /usr/sbin/unbound -V 2>&1; } | sed -n 's/^Version //p' | head -1 || true)

	{
		cat <<EOF
## DNS checks: reachmon vs blackbox_exporter, and dnsperf as the ceiling

Method (\`bench/peers\`, run by \`scripts/bench.sh dnspeers\`, as root):

- Lab: \`integration/lab\` on a free 127.X.0.0/16, port 53: a DNSSEC-signed tree (root,
  \`test.\` and 40 child zones \`z00.test.\`…\`z39.test.\`, ECDSA P-256) served by NSD ${nsdv:-?}
  (one process per level, the child zones' one answering on all 80 nameserver addresses, RRL off),
  and 4 validating Unbound ${unbv:-?} resolvers (one thread each) trusting the lab's root. TTLs of
  1 h: every check is asked once before the measurements (all must answer NOERROR, with AD from the
  resolvers and AA from the authoritative servers), so the resolvers answer from their caches.
- Check set (the same for every tool): for each zone, the names \`@ www ns1 ns2\` × the types
  \`SOA A AAAA\` asked of each of the 4 resolvers (RD=1), and the same asked of both of the zone's
  authoritative servers (RD=0; SOA only at the apex, as reachmon plans it). In all: ${labline:-?}.
  Many answers are NODATA (NOERROR, no answer records): a check succeeds on NOERROR.
- **reachmon** (\`reachmon run\`, built from this tree): the zones with these \`names\`, \`types\` and
  their \`authoritative\` servers listed (no discovery), \`dnssec = false\` (no DS-vs-DNSKEY check,
  which blackbox_exporter has no counterpart for), the 4 resolvers, no \`[bgp]\`, no \`[slack]\`,
  log level info. Per check it sends one query from a new UDP socket, decodes and normalises the
  answer, updates its metrics and feeds the evaluator (incidents, status). \`TestCheckSetMatchesSchedule\`
  checks that its schedule is exactly the check set. Schedule: \`interval\` = checks / rate,
  \`jitter\` = 99% of the interval (each check's first round at a random point of the interval,
  later rounds at the same phase: an even spread, as reachmon's default, the whole interval, does), \`timeout\` = min(2 s, interval), \`concurrency\` = 2000 (at
  most 10,000 allowed; far above the probes in flight here, so never the limit).
- **blackbox_exporter** (Debian package): one \`dns\` module per
  question and RD flag (840), UDP, \`preferred_ip_protocol: ip4\`, \`valid_rcodes: [NOERROR]\`, the
  same timeout; default flags. A **scraper** in the test process plays Prometheus with one scrape
  target per check (\`/probe?module=…&target=IP:53\`): each check at its own random offset in the
  interval, a round skipped while the check's previous scrape is still running (as Prometheus's
  scrape loop drops ticks), Prometheus 2.42's request headers (gzip, scrape timeout = probe timeout +
  0.5 s), keep-alive connections; it reads each answer and looks for \`probe_success 1\`. Per check
  blackbox_exporter serves an HTTP request, builds a registry, sends one query (the Debian build's
  miekg/dns client), checks the rcode, and writes and gzips the exposition.
- On the wire the two ask differently (captured in each round): reachmon ${qr:-?};
  blackbox_exporter ${qb:-?}. reachmon's queries ask for DNSSEC records (DO), so its answers are
  larger and cost it more to decode; dnsperf below is run with \`-D\` (DO) like reachmon.
- **Cost** (\`cost/…\`): each tool alone runs the whole check set at 1,000 checks/s (30,000 checks
  every 30 s; interval 2.64 s) for 10.56 s (4 intervals) after 3 s of warm-up; a fresh process each. *CPU s / 10k
  checks*: the tool's user+system CPU time over the window (/proc/PID/stat, all threads, GC included,
  10 ms ticks) per 10,000 checks completed in it. Checks counted: reachmon's own
  \`reachmon_dns_probe_duration_seconds\` count (one observation per check, answered or not; the
  zone details of \`/api/v1/status?zone=\` must hold a last result for every check of the set) from \`/metrics\` scraped at both ends of the window (one scrape of
  reachmon's \`/metrics\` thus falls in each window: about what a Prometheus scraping it every 10 s
  costs); the second scrape must hold one \`reachmon_zone_health\` series per zone, and every
  \`reachmon_dns_probe_failing\` series (one per check whose last probe failed) must name a check of the set;
  blackbox_exporter's: the scraper's completed scrapes. *scraper*: the test process's CPU
  (getrusage) in the same window: what a user's Prometheus pays on top of blackbox_exporter, and
  more (it also parses and stores every sample); shown apart, not added to blackbox_exporter's.
  *RSS*: VmRSS at the end of the window; *peak*: VmHWM. *servers*: the lab daemons' CPU per 10k
  checks (for information: reachmon's DO queries cost the servers more). *lag p99*: reachmon's
  \`reachmon_probe_schedule_lag_seconds\` bucket holding the 99th percentile. Windows are whole
  intervals (4 × 2.64 s), so every check counts equally often. For information, \`…-bursts\` runs
  both once more at the same average rate with \`jitter\` a tenth of the interval (reachmon's
  default before 2026-11-23) (each interval's checks all start in its first 0.26 s: bursts of ten times the rate;
  the scraper's offsets likewise); the goal is judged on the even spread.
- **Highest sustainable rate** (\`maxrate/…\`): steps of 5 s (after 2 s of warm-up, a fresh process
  each), doubling from 4,000 checks/s (reachmon) or 500 (blackbox_exporter) until a step fails, then
  geometric bisection between the highest step that held and the lowest that failed until they are
  within 20%; at most 8 steps. A step **holds** when, over its window: checks completed ≥ 97% of the
  offered rate, ≤ 1% of them failed (no answer or not NOERROR: reachmon's \`reachmon_dns_probe_errors_total\`
  and \`reachmon_dns_responses_total\` other than NOERROR, blackbox_exporter's \`probe_success\` 0), ≤ 1% of the rounds
  were skipped (reachmon: \`reachmon_probe_skipped_total\`; the scraper's skipped ticks), and, for
  reachmon only, ≤ 1% of its probes started more than 50 ms after they were due
  (\`reachmon_probe_schedule_lag_seconds\`; blackbox_exporter has no schedule of its own). The
  highest step that held is reported. Everything shares the machine's 2 cores: the lab's servers,
  and for blackbox_exporter the scraper.
- **dnsperf** (\`dnsperf/…\`), 5 s each with 8 clients, 400 queries outstanding, \`-D\`:
  *nsd*: the authoritative questions (360 distinct) against the child zones' NSD (at ns1 of the
  first zone; 2 threads); *unbound*: the resolver questions (480 distinct) against all 4 resolvers
  at once (one dnsperf each, 1 thread each; rates summed); *mix*: the rate at which dnsperf would
  get through the check set's mix (27% authoritative, 73% via resolvers) at those two rates,
  1 / (0.273 / nsd + 0.727 / unbound): the ceiling for this check set on this machine. dnsperf
  reuses its sockets and keeps hundreds of queries in flight; it decodes nothing but the header.
- ${ROUNDS} round(s), each one process (\`-benchtime 1x\`) with a fresh lab running everything above
  in that order; medians over the rounds (min–max in brackets); ratios are taken within each round
  and their median reported. Per-step lines and raw output: \`${out#"$ROOT"/}/raw.txt\`.
- Tools: ${tools:-?}.
$(machine "$out")

Cost of the check set at the same rate (1,000 checks/s):

| Tool | CPU s / 10k checks | scraper CPU s / 10k checks | RSS MiB | peak RSS MiB | checks/s | errors % | lag p99 ms | servers CPU s / 10k checks | other cores |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
		local n label
		for n in "$cr" "$cb" "$crb" "$cbb"; do
			case $n in
			"$cr") label=reachmon ;;
			"$cb") label=blackbox_exporter ;;
			"$crb") label="reachmon, in bursts (information)" ;;
			"$cbb") label="blackbox_exporter, in bursts (information)" ;;
			esac
			printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" \
				"$(dp_mmm 3 "$st" "$n" cpu-s/10k-checks)" "$(dp_mmm 3 "$st" "$n" scraper-cpu-s/10k-checks)" \
				"$(dp_mmm 1 "$st" "$n" rss-MiB)" "$(dp_f 1 "$st" "$n" hwm-MiB med)" "$(num "$(getstat "$st" "$n" checks/s med)")" \
				"$(dp_f 2 "$st" "$n" error-% med)" "$(dp_f 0 "$st" "$n" lag-p99-ms med)" \
				"$(dp_f 3 "$st" "$n" servers-cpu-s/10k-checks med)" "$(dp_f 2 "$st" "$n" other-cores med)"
		done
		cat <<EOF

Highest sustainable rate (dnsperf: queries/s it reached):

| Tool | checks/s | lowest rate that failed | CPU s / 10k checks there | tool cores | servers cores | scraper cores | other cores |
|---|---:|---:|---:|---:|---:|---:|---:|
EOF
		for n in "$mr" "$mb" "$pn" "$pu" "$pm"; do
			case $n in
			"$mr") label=reachmon ;;
			"$mb") label=blackbox_exporter ;;
			"$pn") label="dnsperf → NSD (authoritative questions)" ;;
			"$pu") label="dnsperf → 4 Unbound (resolver questions)" ;;
			"$pm") label="dnsperf, the check set's mix" ;;
			esac
			printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" \
				"$(dp_mmm n "$st" "$n" max-checks/s)" "$(num "$(getstat "$st" "$n" failed-checks/s med)")" \
				"$(dp_f 3 "$st" "$n" cpu-s/10k-checks med)" "$(dp_f 2 "$st" "$n" tool-cores med)" \
				"$(dp_f 2 "$st" "$n" servers-cores med)" "$(dp_f 2 "$st" "$n" scraper-cores med)" "$(dp_f 2 "$st" "$n" other-cores med)"
		done
		cat <<EOF

*other cores*: CPU used meanwhile by processes that are not part of the measurement (other work on
the machine), at most ${other_max} cores in a median above; *lowest rate that failed*: 0 or "–" when
every step held. Ramps of each round (offered checks/s):

EOF
		local f i=0
		for f in "${rounds[@]}"; do
			i=$((i + 1))
			printf -- '- round %d, reachmon: %s\n' "$i" "$(dp_steps "$f" reachmon)"
			printf -- '- round %d, blackbox_exporter: %s\n' "$i" "$(dp_steps "$f" blackbox)"
		done
		if awk -v x="$other_max" 'BEGIN { exit !(x > 0.2) }'; then
			cat <<EOF

**Caveat: the machine was not quiet** (other processes used up to ${other_max} of its 2 cores
during a measurement): rates are pessimistic and swing between rounds; CPU seconds per check much
less so, which is why the cost comparison uses them. The ratios, taken within a round, are the
figures to trust; rerun \`make bench\` on an idle machine for absolute rates.
EOF
		fi
		cat <<EOF

Ratios, median of the per-round ratios:

- CPU per check, blackbox_exporter / reachmon: $(fmt_ratio "$r_cpu"); with the scraper's CPU added to
  blackbox_exporter's: $(fmt_ratio "$r_cpus"). In bursts (information): $(fmt_ratio "$r_cpub").
- RSS, blackbox_exporter / reachmon: $(fmt_ratio "$r_rss").
- Highest sustainable rate, reachmon / blackbox_exporter: $(fmt_ratio "$r_rate").
- Highest sustainable rate, reachmon / dnsperf on the check set's mix: $(fmt_ratio "$r_mix");
  reachmon / dnsperf against NSD alone: $(fmt_ratio "$r_nsd").

Goals (issue 8):

- reachmon at least 5× cheaper per check than blackbox_exporter (CPU per check at the same rate,
  without the scraper): **${ok_cost}** (${r_cpu%% *}×).
- reachmon within 2× of dnsperf's rate (highest sustainable rate ≥ 0.5 × dnsperf's on the same
  check set and servers): **${ok_rate}** (${r_mix%% *}×).
EOF
		findings_link peers
	} >"$md"
	update_section dnspeers "$md"
	cat "$md"
}

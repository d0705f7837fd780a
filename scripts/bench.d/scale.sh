# shellcheck shell=bash
# Sourced by scripts/bench.sh: the scale benchmark (issue 8), bench/scale.
#
#   scripts/bench.sh scale
#
# 10,000 zones, 3 resolvers and the zones' authoritative servers on a 60 s
# interval for 10 minutes, with the real `reachmon run` against NSD and
# Unbound on loopback (root needed). Each round is one process running the
# whole lab for BENCH_SCALE_DURATION (default 10m); BENCH_ROUNDS rounds
# (default 5: about an hour). BENCH_SCALE_ZONES, BENCH_SCALE_NS,
# BENCH_SCALE_TTL shrink or reshape it for development (see bench/scale/doc.go).
# Besides the go test output, each round's time series (one line per 10 s,
# per second, per scrape, per interval) is kept in
# $BENCH_RESULTS/scale/series-N/.

[[ " ${BENCHES[*]} " == *" scale "* ]] || BENCHES+=(scale)
#
#   scripts/bench.sh scale50k
#
# The same at 50,000 zones (issue 18: one instance on this machine), its
# own section of BENCHMARKS.md; not in the default set (BENCH_ROUNDS
# rounds of BENCH_SCALE_DURATION, ~15 min each with the lab's set-up).

# _scale_fmt VALUE DECIMALS: "–" for nan, else fixed decimals (thousands
# separators for whole numbers).
_scale_fmt() {
	if [ "$1" = nan ]; then
		echo "–"
	elif [ "${2:-0}" = 0 ]; then
		num "$1"
	else
		awk -v x="$1" -v d="$2" 'BEGIN { printf "%.*f\n", d, x }'
	fi
}

# _scale_ms VALUE: milliseconds, one decimal below 100.
_scale_ms() {
	if [ "$1" = nan ]; then
		echo "–"
	elif awk -v x="$1" 'BEGIN { exit !(x < 100) }'; then
		_scale_fmt "$1" 1
	else
		num "$1"
	fi
}

# _scale_lag VALUE: a lag quantile (a bucket's upper bound) as text.
_scale_lag() {
	awk -v x="$1" 'BEGIN {
		if (x == "nan") print "–"
		else if (x + 0 >= 1e9) print "> 30 s"
		else printf "≤ %g s\n", x
	}'
}

bench_scale() { _bench_scale scale; }

# _scale_goals: issue 18's goals, judged on the largest value over the
# rounds: at 10,000 zones or fewer RSS peak ≤ 200 MiB, /metrics ≤ 4 MB and
# ≤ 0.3 CPU s per scrape; above, no skipped round and lag p99 ≤ 1 s (RSS
# reported). Uses _scale_g and the zone count of the caller.
_scale_goals() {
	local z=${zones//,/}
	if [ "$z" -le 10000 ]; then
		local peak mb cpu
		peak=$(_scale_g rss-peak-MiB max)
		mb=$(_scale_g scrape-MB max)
		cpu=$(_scale_g scrape-cpu-s max)
		printf -- '- **Issue 18 goals at %s zones** (largest over the rounds): RSS peak ≤ 200 MiB **%s** (%s MiB); `/metrics` ≤ 4 MB **%s** (%s MB); ≤ 0.3 CPU s per scrape **%s** (%s s).\n' "$zones" \
			"$(awk -v a="$peak" 'BEGIN { print (a != "nan" && a + 0 <= 200) ? "met" : "NOT met" }')" "$(_scale_fmt "$peak" 0)" \
			"$(awk -v a="$mb" 'BEGIN { print (a != "nan" && a + 0 <= 4) ? "met" : "NOT met" }')" "$(_scale_fmt "$mb" 1)" \
			"$(awk -v a="$cpu" 'BEGIN { print (a != "nan" && a + 0 <= 0.3) ? "met" : "NOT met" }')" "$(_scale_fmt "$cpu" 2)"
	else
		local sk lag
		sk=$(_scale_g skipped max)
		lag=$(_scale_g lag-p99-s max)
		printf -- '- **Issue 18 goals at %s zones on one instance** (largest over the rounds): no skipped round **%s** (%s); lag p99 ≤ 1 s **%s** (%s); RSS peak %s MiB (reported, no goal).\n' "$zones" \
			"$(awk -v a="$sk" 'BEGIN { print (a != "nan" && a + 0 == 0) ? "met" : "NOT met" }')" "$(num "$sk")" \
			"$(awk -v a="$lag" 'BEGIN { print (a != "nan" && a + 0 <= 1) ? "met" : "NOT met" }')" "$(_scale_lag "$lag")" \
			"$(_scale_fmt "$(_scale_g rss-peak-MiB max)" 0)"
	fi
}

bench_scale50k() {
	BENCH_SCALE_ZONES=${BENCH_SCALE_ZONES:-50000} RUN_ROUNDS_ENV=BENCH_SCALE_WORKDIR _bench_scale scale50k
}

# _bench_scale NAME: runs bench/scale as benchmark NAME (its results
# directory and its section of BENCHMARKS.md).
_bench_scale() {
	local name=$1
	local out="$RESULTS/$name" md="$WORK/$name.md" st="$WORK/$name.stats"
	local BENCHTIME=1x dur=${BENCH_SCALE_DURATION:-10m} secs r
	secs=$(duration_secs "$dur")
	if [ "$REUSE" != 1 ]; then
		[ "$(id -u)" = 0 ] || log "scale: not root: the benchmark will skip (CI=true: fail)"
		log "scale: building reachmon"
		"$GO" build -o "$WORK/reachmon" ./cmd/reachmon
		export BENCH_REACHMON_BIN="$WORK/reachmon"
		log "scale: ${ROUNDS} round(s) of ${dur} each, plus a minute of set-up"
	fi
	run_rounds "$name" ./bench/scale/ -test.timeout "$((secs + 1800))s"
	if [ "$REUSE" != 1 ]; then
		for ((r = 1; r <= ROUNDS; r++)); do
			if [ -d "$WORK/$name-$r/results" ]; then
				mkdir -p "$out/series-$r"
				cp "$WORK/$name-$r/results/"* "$out/series-$r/"
			fi
		done
	fi
	local rounds=("$out"/round-*.txt)
	stats "${rounds[@]}" >"$st"
	local B=BenchmarkScale
	_scale_g() { getstat "$st" "$B" "$1" "${2:-med}"; }
	# _scale_row LABEL UNIT DECIMALS [SUFFIX]: median (min–max) of a metric.
	# DECIMALS "ms": _scale_ms.
	_scale_f() { if [ "$2" = ms ]; then _scale_ms "$1"; else _scale_fmt "$1" "$2"; fi; }
	_scale_row() {
		local m lo hi
		m=$(_scale_f "$(_scale_g "$2")" "$3")
		lo=$(_scale_f "$(_scale_g "$2" min)" "$3")
		hi=$(_scale_f "$(_scale_g "$2" max)" "$3")
		if [ "$(_scale_g "$2" n)" = 1 ] || [ "$lo" = "$hi" ]; then
			printf '| %s | %s%s |\n' "$1" "$m" "${4:-}"
		else
			printf '| %s | %s%s (%s–%s) |\n' "$1" "$m" "${4:-}" "$lo" "$hi"
		fi
	}
	_scale_lagrow() {
		local m lo hi
		m=$(_scale_lag "$(_scale_g "$2")")
		lo=$(_scale_lag "$(_scale_g "$2" min)")
		hi=$(_scale_lag "$(_scale_g "$2" max)")
		if [ "$lo" = "$hi" ]; then
			printf '| %s | %s |\n' "$1" "$m"
		else
			printf '| %s | %s (%s … %s) |\n' "$1" "$m" "$lo" "$hi"
		fi
	}
	local info shape planned nrounds
	info=$(sed -n 's/^# scale: //p' "${rounds[0]}")
	shape=$(sed -n '1p' <<<"$info")
	planned=$(_scale_g planned)
	nrounds=$(_scale_g planned n)
	local zones ns ttl interval base
	zones=$(num "$(sed -n 's/.*zones=\([0-9]*\).*/\1/p' <<<"$shape")")
	ns=$(sed -n 's/.* ns=\([0-9]*\).*/\1/p' <<<"$shape")
	ttl=$(duration_secs "$(sed -n 's/.* ttl=\([^ ]*\).*/\1/p' <<<"$shape")")
	interval=$(duration_secs "$(sed -n 's/.* interval=\([^ ]*\).*/\1/p' <<<"$shape")")
	base=$(sed -n 's/.* base=\([^ ]*\).*/\1/p' <<<"$shape")
	# The [probe] settings reachmon ran with (defaults filled in), when the
	# round printed them; "jitter=…" in the shape line is what was set.
	local probe defaults
	probe=$(sed -n 's/^probe: //p' <<<"$info")
	if [ -n "$probe" ]; then
		defaults=$(awk '{
			for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			printf "timeout %s, jitter %s, concurrency %s, discovery_min %s, discovery_max %s, ds_check_interval %s",
				v["timeout"], v["jitter"], v["concurrency"], v["discovery_min"], v["discovery_max"], v["ds_check_interval"]
		}' <<<"$probe")
	else
		defaults="see \`[probe]\` in docs/configuration.md for this tree's defaults"
	fi
	case "$shape" in
	*" jitter=default "* | "") ;;
	*" jitter="*) defaults="${defaults}; **jitter set to $(sed -n 's/.* jitter=\([^ ]*\).*/\1/p' <<<"$shape")**" ;;
	esac
	local nsdv unbv signed
	nsdv=$(sed -n 's/^nsd=//p' <<<"$info")
	unbv=$(sed -n 's/^unbound=//p' <<<"$info")
	signed=$(sed -n 's/^signed_in=\([0-9.]*\)s zone_files_mib=\([^ ]*\).*/\1 s (\2 MiB of zone files)/p' <<<"$info")
	local load
	load=$(cat "$out"/series-*/samples.tsv 2>/dev/null | awk -F'\t' '$1 ~ /^[0-9]/ { split($10, l, " "); v = l[1] + 0; if (!n++ || v < lo) lo = v; if (v > hi) hi = v } END { if (n) printf "%.2f–%.2f", lo, hi; else print "–" }')

	# The verdict: reachmon's own skip counter, and every series checked
	# once per interval (±1 where a round crossed a scrape).
	local skipped missed repeated held
	skipped=$(_scale_g skipped max)
	missed=$(_scale_g series-missed max)
	repeated=$(_scale_g series-repeated max)
	held=$(awk -v s="$skipped" -v m="$missed" -v r="$repeated" 'BEGIN { print (s == 0 && m == 0 && r == 0) ? "held" : "NOT held" }')

	{
		cat <<EOF
## Scale: ${zones} zones, 3 resolvers and their authoritative servers, every ${interval} s

Method (\`bench/scale\`, run by \`scripts/bench.sh ${name}\`, as root):

- Lab, real daemons on loopback (${base}): a DNSSEC-signed tree served by NSD ${nsdv} —
  the root, the TLD \`test.\` (one delegation with a DS per zone) and a DNS host whose
  ${ns} nameservers \`ns1…ns${ns}.dnshost.test.\` (one address each, one NSD process listening on
  all of them) serve every zone \`z00001.test.\`…; 3 validating Unbound ${unbv} resolvers
  (one thread each, caches raised to 64–128 MB per 10,000 zones so that every zone fits) that reach the zones
  by following the delegations from the root, with a cold cache at start. Every zone signed
  (ECDSAP256SHA256, one key per zone, NSEC) in the test process with miekg/dns in ${signed:-–}.
  Every record has a TTL of ${ttl} s, so resolver caches expire and reachmon rediscovers every
  zone's servers (at the NS TTL, clamped to discovery_min…max) every ${ttl} s during the run.
  NSD and Unbound have rate limiting off.
- reachmon: this tree's \`reachmon run\` with a generated configuration: ${zones} \`[[zone]]\` entries
  giving only the name (the defaults: apex SOA asked of every resolver and of every
  authoritative server, DS-vs-DNSKEY check every 5 min), 3 \`[[resolver]]\`s,
  \`[probe] interval = "${interval}s"\`, \`[metrics] zone_latency = false\` (one latency
  histogram per server; the default since issue 18, written out), every other key at its
  default (${defaults}); no \`[bgp]\`, no \`[slack]\`.
  The authoritative servers are **discovered** (NS from the resolvers, delegation
  and glue from \`test.\`'s server), as a user's configuration would have it.
  Planned checks per interval: ${zones} × (3 resolvers + ${ns} servers) = $(num "$planned").
- Measured from outside: CPU and RSS of reachmon, NSD and Unbound from /proc (every second
  for reachmon, every 10 s for all); reachmon's \`/metrics\` read in full once per interval (as a
  Prometheus with the default 1 m \`scrape_interval\`), at a fixed offset chosen after start-up,
  20 s past \`/readyz\` (the first discovery of every zone), between half an interval and
  11/12 of one. *Checks*: the count of \`reachmon_dns_probe_duration_seconds\` (one per probe,
  answered or not). *Series* (zone × server): Prometheus has no per-zone probe counters since
  issue 18, so after each scrape (not in its CPU figure) the harness reads the
  \`/api/v1/status?zone=\` detail of a sample of 200 zones spread over the range and sums
  each server's probe counts. *Lag*: \`reachmon_probe_schedule_lag_seconds\`
  (due → handed to a worker; every job: probes, discoveries, DS checks); its buckets are
  .001 … 1, 5, 10, 30 s, so quantiles are given as the bucket bound they fall under.
  *First interval*: from the start to the first scrape; *steady*: from the end of a two-interval
  warm-up after the first scrape to the last scrape, whole intervals. *other cores*: the rest
  of the machine (other users); *harness*: the test process (mostly parsing the scrapes).
- ${nrounds} round(s) of ${dur}, medians over the rounds (min–max when they differ).
  Raw output: \`${out#"$ROOT"/}/raw.txt\`; time series per round in \`${out#"$ROOT"/}/series-N/\`
  (\`intervals.tsv\`, \`scrapes.tsv\`, \`samples.tsv\` every 10 s, \`cpu-1s.tsv\`).
$(machine "$out")
- Load average (1 min) during the run, from the 10 s samples: ${load}.

| Start-up and first interval | median (min–max) |
|---|---:|
EOF
		_scale_row "ready (\`/readyz\`: first discovery of every zone), s" ready-s 1
		_scale_row "reachmon CPU until ready, s" ready-cpu-s 1
		_scale_row "first scrape at, s" first-scrape-s 0
		_scale_row "checks done by the first scrape (planned $(num "$planned"))" first-checks 0
		_scale_row "reachmon CPU, first interval, cores" first-cores 2
		_scale_lagrow "lag p50, first interval" first-lag-p50-s
		_scale_lagrow "lag p99, first interval" first-lag-p99-s
		_scale_lagrow "lag max, first interval" first-lag-max-s
		_scale_row "lag mean, first interval, ms" first-lag-mean-ms ms
		_scale_row "NSD / Unbound CPU until the first scrape, cores" first-unbound-cores 2 " (Unbound); NSD $(_scale_fmt "$(_scale_g first-nsd-cores)" 2)"
		cat <<EOF

| Steady state | median (min–max) |
|---|---:|
EOF
		_scale_row "steady intervals" steady-intervals 0
		_scale_row "reachmon CPU, cores (average)" cpu-cores 3
		_scale_row "reachmon CPU, busiest 10 s, cores" peak10s-cores 2
		_scale_row "RSS at ready, MiB" rss-ready-MiB 0
		_scale_row "RSS after warm-up, MiB" rss-warm-MiB 0
		_scale_row "RSS at the end, MiB" rss-end-MiB 0
		_scale_row "RSS peak (VmHWM), MiB" rss-peak-MiB 0
		_scale_row "RSS slope after warm-up, MiB/h" rss-slope-MiB/h 0
		_scale_row "Go heap in use at the end, MiB" heap-end-MiB 0
		_scale_lagrow "lag p50" lag-p50-s
		_scale_lagrow "lag p99" lag-p99-s
		_scale_lagrow "lag max" lag-max-s
		_scale_row "lag mean, ms" lag-mean-ms ms
		_scale_row "checks per interval (planned $(num "$planned"))" checks-median 0
		_scale_row "checks short of the plan over the steady window (< 0: more)" steady-deficit 0
		_scale_row "rounds skipped by reachmon in the steady window" steady-skipped 0
		_scale_row "check success (NOERROR), %" success-% 3
		_scale_row "… resolvers, %" res-success-% 3
		_scale_row "… authoritative servers, %" auth-success-% 3
		_scale_row "NSD CPU (3 processes), cores" nsd-cores 3
		_scale_row "Unbound CPU (3 resolvers), cores" unbound-cores 3
		_scale_row "harness CPU, cores" harness-cores 3
		_scale_row "other processes, cores" other-cores 2
		_scale_row "\`/metrics\` size, MB" scrape-MB 1
		_scale_row "\`/metrics\` read time (until the last byte; parse excluded), s" scrape-s 1
		_scale_row "reachmon CPU during a \`/metrics\` read (with any probing meanwhile), s" scrape-cpu-s 2
		cat <<EOF

| Whole run | median (min–max) |
|---|---:|
EOF
		_scale_row "\`reachmon_probe_skipped_total\` at the end" skipped 0
		_scale_row "intervals after the first scrape" intervals 0
		_scale_row "sampled series (zone × server) that missed ≥ 2 rounds over them" series-missed 0
		_scale_row "sampled series that ran a round twice" series-repeated 0
		_scale_row "sampled series ±1 (a round crossing a scrape, or one round skipped)" series-straddled 0
		_scale_row "sampled series that appeared after the first scrape" series-late 0
		_scale_row "probes that waited over 1 s (lag)" lag-over-1s 0
		_scale_row "probes that waited over 30 s (lag)" lag-over-30s 0
		_scale_row "zones with every nameserver discovered, at the end" zones-discovered 0
		_scale_row "zones whose DS check says ok, at the end" ds-ok 0
		_scale_row "reachmon shutdown after SIGTERM, s" shutdown-s 2
		_scale_row "reachmon log lines at WARN / ERROR" log-warn 0 " / $(_scale_fmt "$(_scale_g log-error)" 0)"

		if [ -f "$out/series-1/intervals.tsv" ]; then
			cat <<EOF

Round 1, interval by interval (\`series-1/intervals.tsv\`; *0 / 2*: sampled series with no check / two
checks in the interval, which cancel out when a round crosses a scrape; lag bounds in s):

| interval | ends at s | checks | 0 / 2 | skipped | lag p99 ≤ | lag mean ms | reachmon cores | Unbound cores | other cores |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
			awk -F'\t' 'NR > 1 {
				p99 = $17 == "+Inf" ? "> 30" : $17 == "NaN" ? "–" : $17
				printf "| %d | %.0f | %d | %d / %d | %d | %s | %.1f | %.3f | %.3f | %.2f |\n", $1, $3, $4, $8, $10 + $11, $15, p99, $19, $20, $22, $24
			}' "$out/series-1/intervals.tsv"
		fi

		local lag99 cores rss slope ready steady_planned steady_done lagrange=""
		if [ -f "$out/series-1/intervals.tsv" ]; then
			# p99 of each steady interval of round 1 (the last steady-intervals rows).
			lagrange=$(awk -F'\t' -v k="$(_scale_g steady-intervals)" '
				NR > 1 { v[NR - 1] = $17; n = NR - 1 }
				END {
					for (i = n - k + 1; i <= n; i++) {
						x = v[i] == "+Inf" ? 1e9 : v[i] + 0
						if (!c++ || x < lo) lo = x
						if (x > hi) hi = x
					}
					if (c) printf "%s %s", lo, hi
				}' "$out/series-1/intervals.tsv")
			[ -z "$lagrange" ] || lagrange="; per steady interval of round 1, p99 from $(_scale_lag "${lagrange% *}") to $(_scale_lag "${lagrange#* }")"
		fi
		steady_planned=$(awk -v p="$planned" -v k="$(_scale_g steady-intervals)" 'BEGIN { print (k == "nan") ? "nan" : p * k }')
		steady_done=$(awk -v t="$steady_planned" -v d="$(_scale_g steady-deficit)" 'BEGIN { print (t == "nan" || d == "nan") ? "nan" : t - d }')
		lag99=$(_scale_lag "$(_scale_g lag-p99-s)")
		cores=$(_scale_fmt "$(_scale_g cpu-cores)" 3)
		rss=$(_scale_fmt "$(_scale_g rss-peak-MiB)" 0)
		slope=$(_scale_fmt "$(_scale_g rss-slope-MiB/h)" 0)
		ready=$(_scale_fmt "$(_scale_g ready-s)" 0)
		cat <<EOF

Results:

- **No missed intervals: ${held}.** reachmon counted $(num "$skipped") skipped rounds
  (\`reachmon_probe_skipped_total\` at the end; the largest over the rounds), $(_scale_fmt "$(_scale_g steady-skipped)" 0) of them in the
  steady window. From outside: over the steady window reachmon did $(num "$steady_done") checks against
  $(_scale_fmt "$(_scale_g steady-intervals)" 0) × $(num "$planned") = $(num "$steady_planned") planned (a round crossing the first or the last scrape moves checks in
  or out of the window); checks per interval: median $(num "$(_scale_g checks-median)"), $(num "$(_scale_g checks-min)")–$(num "$(_scale_g checks-max)") (a late round moves
  checks from one interval to the next); $(num "$missed") sampled series (zone × server) missed two or more rounds and
  $(num "$repeated") ran a round twice between the first and the last scrape.
- Probe-loop lag in steady state: p99 ${lag99}, mean $(_scale_ms "$(_scale_g lag-mean-ms)") ms${lagrange}; in the first interval
  p99 $(_scale_lag "$(_scale_g first-lag-p99-s)"), mean $(_scale_ms "$(_scale_g first-lag-mean-ms)") ms.
- reachmon CPU: ${cores} cores on average in steady state (busiest 10 s:
  $(_scale_fmt "$(_scale_g peak10s-cores)" 2) cores), $(_scale_fmt "$(_scale_g first-cores)" 2) cores over the first interval,
  $(_scale_fmt "$(_scale_g ready-cpu-s)" 0) CPU-seconds to become ready (${ready} s).
- reachmon RSS: $(_scale_fmt "$(_scale_g rss-ready-MiB)" 0) MiB at ready, peak ${rss} MiB,
  $(_scale_fmt "$(_scale_g rss-end-MiB)" 0) MiB at the end; slope after warm-up ${slope} MiB/h
  (least squares over the RSS just before each scrape, one reading per interval at the same
  offset, over $(_scale_fmt "$(_scale_g steady-intervals)" 0) intervals: a sign of growth, not a rate to extrapolate).
$(_scale_goals)
EOF
		findings_link scale
	} >"$md"
	update_section "$name" "$md"
	cat "$md"
}

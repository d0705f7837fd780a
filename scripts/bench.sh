#!/usr/bin/env bash
# Runs reachmon's benchmarks and writes their results into BENCHMARKS.md
# (make bench).
#
#   scripts/bench.sh            every benchmark
#   scripts/bench.sh dns [...]  only the named ones (dns, bgp, evaluator, latency,
#                               and from scripts/bench.d: dnspeers, scale, bgpchurn, bmp)
#
# Each benchmark is a function bench_NAME that writes the markdown of its
# own section; update_section puts it between the markers
# <!-- bench:NAME:start --> and <!-- bench:NAME:end --> of BENCHMARKS.md,
# leaving every other section as it is. To add one: write bench_NAME in
# scripts/bench.d/NAME.sh and add NAME to BENCHES there.
#
# Environment:
#   BENCH_ROUNDS   rounds per benchmark (default 5); each round is one
#                  process, with every variant of the benchmark in it
#   BENCH_TIME     -test.benchtime of each variant in a round (default 2s)
#   BENCH_FILE     the file to update (default BENCHMARKS.md)
#   BENCH_RESULTS  where the raw `go test` output is kept (default var/bench)
#   BENCH_REUSE=1  do not run: rewrite the sections from the output kept in
#                  BENCH_RESULTS by the last run (to change the rendering)
#
# Nothing is left running: every process started here (test binaries and
# the daemons they start in their own process groups) is stopped on exit,
# including on Ctrl-C, and the script checks that none is left.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

BENCHES=(dns bgp evaluator latency)
ROUNDS=${BENCH_ROUNDS:-5}
BENCHTIME=${BENCH_TIME:-2s}
MD=${BENCH_FILE:-$ROOT/BENCHMARKS.md}
RESULTS=${BENCH_RESULTS:-$ROOT/var/bench}
GO=${GO:-go}
REUSE=${BENCH_REUSE:-0}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/reachmon-bench.XXXXXX")
CHILD="" # the test binary running now

log() { printf 'bench: %s\n' "$*" >&2; }

# --- cleanup -------------------------------------------------------------

# wait_gone PID|-PGID: waits up to 10 s for a process (group) to be gone.
wait_gone() {
	local i
	for ((i = 0; i < 100; i++)); do
		kill -0 -- "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

cleanup() {
	local rc=$? f pg p
	trap - EXIT INT TERM
	if [ -n "$CHILD" ] && kill -0 "$CHILD" 2>/dev/null; then
		# The test binary stops its daemons on SIGTERM.
		kill -TERM "$CHILD" 2>/dev/null || true
		wait_gone "$CHILD" || kill -KILL "$CHILD" 2>/dev/null || true
	fi
	# Process groups of daemons started by test binaries (nsd.pgid files
	# written by bench/dns), in case a binary died without stopping them.
	while IFS= read -r f; do
		pg=$(tr -dc 0-9 <"$f")
		[ -n "$pg" ] || continue
		if kill -0 -- "-$pg" 2>/dev/null; then
			log "killing leftover process group $pg ($f)"
			kill -KILL -- "-$pg" 2>/dev/null || true
			wait_gone "-$pg" || log "process group $pg survived SIGKILL"
		fi
	done < <(find "$WORK" -name '*.pgid' 2>/dev/null)
	# Anything still naming the work directory on its command line is ours.
	local cmd
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" != "$$" ] || continue
		cmd=$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
		if [[ $cmd == *"$WORK"* ]]; then
			log "killing leftover process ${p#/proc/}: $cmd"
			kill -KILL "${p#/proc/}" 2>/dev/null || true
			[ "$rc" -ne 0 ] || rc=1
		fi
	done
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers ---------------------------------------------------------------

# run_rounds NAME PKG [test binary flags...]: builds PKG's test binary once
# and runs it ROUNDS times, one process per round, writing each round's
# output to $RESULTS/NAME/round-N.txt and all of it to $RESULTS/NAME/raw.txt
# (benchstat's input format). The binary gets NAME's work directory in
# BENCH_<NAME>_WORKDIR (daemons' files, .pgid files for cleanup).
run_rounds() {
	local name=$1 pkg=$2
	shift 2
	local bin="$WORK/$name.test" out="$RESULTS/$name" env r
	env=${RUN_ROUNDS_ENV:-"BENCH_$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')_WORKDIR"}
	if [ "$REUSE" = 1 ]; then
		[ -f "$out/meta.txt" ] && [ -f "$out/raw.txt" ] || { log "$name: BENCH_REUSE=1 but no results in $out"; return 1; }
		log "$name: reusing the results in $out"
		return 0
	fi
	rm -rf "$out"
	mkdir -p "$out"
	{
		echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
		echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
	} >"$out/meta.txt"
	log "$name: building $pkg"
	"$GO" test -c -o "$bin" "$pkg"
	for ((r = 1; r <= ROUNDS; r++)); do
		log "$name: round $r/$ROUNDS"
		mkdir -p "$WORK/$name-$r"
		# In the background so that cleanup knows its PID; run in the
		# package directory, as go test does.
		(cd "$ROOT/${pkg#./}" && exec env "$env=$WORK/$name-$r" "$bin" \
			-test.run '^$' -test.bench . -test.benchtime "$BENCHTIME" -test.count 1 \
			"$@") >"$out/round-$r.txt" 2>&1 &
		CHILD=$!
		if ! wait "$CHILD"; then
			CHILD=""
			cat "$out/round-$r.txt" >&2
			log "$name: round $r failed"
			return 1
		fi
		CHILD=""
		grep '^Benchmark' "$out/round-$r.txt" >&2 || true
		cat "$out/round-$r.txt" >>"$out/raw.txt"
	done
	echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.txt"
	if "$GO" tool -n benchstat >/dev/null 2>&1; then
		"$GO" tool benchstat "$out/raw.txt" >"$out/benchstat.txt" 2>&1 || true
	fi
}

# stats FILE...: one line per benchmark and unit over all rounds:
#   NAME UNIT MEDIAN MIN MAX N
# NAME without the -GOMAXPROCS suffix.
stats() {
	awk '
	function median(a, n,    i, j, t) {
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
		return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
	}
	/^Benchmark/ {
		name = $1; sub(/-[0-9]+$/, "", name)
		for (i = 3; i < NF; i += 2) {
			k = name SUBSEP $(i+1)
			if (!(k in n)) order[++keys] = k
			v[k, ++n[k]] = $i
		}
	}
	END {
		for (o = 1; o <= keys; o++) {
			k = order[o]; split(k, kk, SUBSEP)
			delete a
			for (i = 1; i <= n[k]; i++) a[i] = v[k, i]
			m = median(a, n[k])
			printf "%s %s %.6g %.6g %.6g %d\n", kk[1], kk[2], m, a[1], a[n[k]], n[k]
		}
	}' "$@"
}

# ratios NUM DEN UNIT FILE...: NUM/DEN of UNIT in each round (file), paired
# within the round; prints MEDIAN MIN MAX N.
ratios() {
	local num=$1 den=$2 unit=$3
	shift 3
	awk -v num="$num" -v den="$den" -v unit="$unit" '
	FNR == 1 { f++ }
	/^Benchmark/ {
		name = $1; sub(/-[0-9]+$/, "", name)
		for (i = 3; i < NF; i += 2) if ($(i+1) == unit) {
			if (name == num) x[f] = $i
			if (name == den) y[f] = $i
		}
	}
	END {
		for (r = 1; r <= f; r++) if ((r in x) && (r in y) && y[r] > 0) a[++n] = x[r] / y[r]
		if (n == 0) { print "nan nan nan 0"; exit }
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
		m = n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
		printf "%.3f %.3f %.3f %d\n", m, a[1], a[n], n
	}' "$@"
}

# fmt_ratio "MEDIAN MIN MAX N" (from ratios): markdown.
fmt_ratio() {
	local m lo hi n
	read -r m lo hi n <<<"$1"
	echo "**${m}×** (${lo}–${hi} over ${n} rounds)"
}

# getstat STATSFILE NAME UNIT FIELD: FIELD is med, min, max or n.
getstat() {
	awk -v name="$2" -v unit="$3" -v field="$4" '
	$1 == name && $2 == unit {
		i = field == "med" ? 3 : field == "min" ? 4 : field == "max" ? 5 : 6
		print $i; found = 1
	}
	END { if (!found) print "nan" }' "$1"
}

# num X: X rounded, with thousands separators.
num() {
	awk -v x="$1" 'BEGIN {
		if (x == "nan") { print "–"; exit }
		s = sprintf("%.0f", x); neg = s ~ /^-/; if (neg) s = substr(s, 2)
		out = ""; while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
		print (neg ? "-" : "") s out
	}'
}

# meta OUTDIR KEY: a value run_rounds recorded.
meta() { sed -n "s/^$2=//p" "$1/meta.txt" | head -1; }

# machine OUTDIR: markdown lines describing the machine and the run.
machine() {
	local cpu
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
	echo "- Machine: $(nproc) CPUs (${cpu:-unknown model}), $(uname -sr), $(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
	echo "- Go: $("$GO" version | sed 's/^go version //')"
	echo "- Load average: $(meta "$1" load_start) when the run started, $(meta "$1" load_end) when it ended."
	echo "- Run at $(meta "$1" date)."
}

# update_section NAME CONTENTFILE: replaces NAME's section of $MD (or
# appends it), keeping the rest of the file byte for byte.
update_section() {
	local name=$1 content=$2 start end tmp
	start="<!-- bench:$name:start -->"
	end="<!-- bench:$name:end -->"
	if [ ! -f "$MD" ]; then
		cat >"$MD" <<'EOF'
# Benchmarks

Written by `make bench` (scripts/bench.sh). Each section below is rewritten
between its markers by its own benchmark; text outside the markers is kept.
EOF
	fi
	tmp="$WORK/md.tmp"
	if grep -qF "$start" "$MD"; then
		awk -v start="$start" -v end="$end" -v content="$content" '
		$0 == start { print; while ((getline l < content) > 0) print l; skip = 1; next }
		$0 == end { skip = 0 }
		!skip' "$MD" >"$tmp"
	else
		{ cat "$MD"; printf '\n%s\n' "$start"; cat "$content"; printf '%s\n' "$end"; } >"$tmp"
	fi
	cat "$tmp" >"$MD"
	log "updated the $name section of $MD"
}

# findings_link DIR: the line that points a section at the analysis kept
# beside its benchmark (bench/DIR/FINDINGS.md, written by hand from the
# measurements and profiles). The findings live there only: the section
# links them instead of repeating them.
findings_link() {
	local f="bench/$1/FINDINGS.md"
	[ -f "$ROOT/$f" ] || return 0
	printf '\nFindings, written by hand from these measurements and profiles: [%s](%s).\n' "$f" "$f"
}

# --- dns -------------------------------------------------------------------

# bench_dns: the probe engine against a bare miekg/dns exchange loop, both
# on the same local NSD in the same process (bench/dns).
bench_dns() {
	local out="$RESULTS/dns" md="$WORK/dns.md" st="$WORK/dns.stats"
	local nsdv nsdbin
	nsdbin=$(command -v nsd || echo /usr/sbin/nsd)
	nsdv=$("$nsdbin" -v 2>&1 | sed -n 's/^NSD version //p' | head -1 || true)
	run_rounds dns ./bench/dns/
	local rounds=("$out"/round-*.txt)
	stats "${rounds[@]}" >"$st"

	# Ratios within each round: engine (Probe) over bare (BareExchange),
	# and over the lower floor (BareConn) for information.
	local e=BenchmarkProbe b=BenchmarkBareExchange c=BenchmarkBareConn
	local rp rs rt ra rf
	rp=$(ratios "$e/parallel" "$b/parallel" cpu-ns/op "${rounds[@]}")
	rs=$(ratios "$e/sequential" "$b/sequential" cpu-ns/op "${rounds[@]}")
	rt=$(ratios "$e/parallel" "$b/parallel" probes/s "${rounds[@]}")
	ra=$(ratios "$e/parallel" "$b/parallel" allocs/op "${rounds[@]}")
	rf=$(ratios "$e/parallel" "$c/parallel" cpu-ns/op "${rounds[@]}")
	local pps ok_cost ok_tput other
	other=$(awk '$2 == "other-cores" && $3 > m { m = $3 } END { printf "%.2f", m }' "$st")
	pps=$(getstat "$st" "$e/parallel" probes/s med)
	ok_cost=$(awk -v a="${rp%% *}" 'BEGIN { print (a != "nan" && a + 0 <= 1.2) ? "met" : "NOT met" }')
	ok_tput=$(awk -v a="$pps" 'BEGIN { print (a != "nan" && a + 0 >= 10000) ? "met" : "NOT met" }')

	{
		cat <<EOF
## DNS probe engine vs bare miekg/dns

Method (\`bench/dns\`, run by \`scripts/bench.sh dns\`):

- The test process starts a real NSD ${nsdv:-(version unknown)} on 127.0.0.1 at a free port
  (one server process, \`rrl-ratelimit: 0\`, \`rrl-whitelist-ratelimit: 0\`, NSID set), serving the
  unsigned zone \`bench.test.\`. Every variant asks it \`www.bench.test. A\` (answer: 2 A records,
  178 bytes with the authority and additional sections and NSID) over UDP, a new socket per query.
- **BareExchange** is the floor the issue asks for: a \`dns.Client.Exchange\` loop sending the
  prober's exact query (RD=0, EDNS0 1232 with DO, empty NSID option; a test keeps the two
  byte-identical), checking rcode and answer count. **Probe** is \`dnsprobe.Prober.Probe\` of the
  same query (pack, exchange, decode, normalise, fill the Observation), with
  \`context.Background()\`. **BareConn** (information only) is the least a miekg-based client can
  do: \`net.DialUDP\`, \`PackBuffer\`, one write and one read, \`Unpack\`.
  **Probe/parallel-deadline** (information only) calls Probe as \`internal/schedule\` does, with
  a \`context.WithTimeout\` per probe.
- *parallel*: \`b.RunParallel\` with 8 goroutines per GOMAXPROCS (16 here), the same for all:
  throughput. *sequential*: one goroutine: latency.
- Metrics: ns/op is wall time per query (for parallel runs, elapsed / N); **cpu-ns/op** is the
  test process's user+system CPU time (getrusage, all threads, GC included) over the loop / N:
  the client's cost per probe; probes/s = N / elapsed; B/op and allocs/op from the Go runtime;
  NSD cpu-ns/op is NSD's own CPU (from /proc, 10 ms ticks), the server's cost, not the client's.
- ${ROUNDS} rounds, each a fresh process and a fresh NSD running every variant in turn for
  \`-benchtime ${BENCHTIME}\` (after 2,000 warm-up queries) in the order BareExchange/parallel,
  BareExchange/sequential, Probe/parallel, Probe/sequential, Probe/parallel-deadline, BareConn/…:
  engine and bare alternate through the run (\`-count ${ROUNDS}\` would instead run each variant
  ${ROUNDS} times back to back). Tables show medians over the rounds; ratios are taken
  within each round (same server, same minute) and their median is reported.
  Raw output: \`${out#"$ROOT"/}/raw.txt\` (benchstat format).
$(machine "$out")

| Benchmark | ns/op | cpu-ns/op (min–max) | probes/s (min–max) | B/op | allocs/op | NSD cpu-ns/op | other cores |
|---|---:|---:|---:|---:|---:|---:|---:|
EOF
		local n
		for n in "$b/parallel" "$c/parallel" "$e/parallel" "$e/parallel-deadline" "$b/sequential" "$c/sequential" "$e/sequential"; do
			printf '| %s | %s | %s (%s–%s) | %s (%s–%s) | %s | %s | %s | %s |\n' "${n#Benchmark}" \
				"$(num "$(getstat "$st" "$n" ns/op med)")" \
				"$(num "$(getstat "$st" "$n" cpu-ns/op med)")" "$(num "$(getstat "$st" "$n" cpu-ns/op min)")" "$(num "$(getstat "$st" "$n" cpu-ns/op max)")" \
				"$(num "$(getstat "$st" "$n" probes/s med)")" "$(num "$(getstat "$st" "$n" probes/s min)")" "$(num "$(getstat "$st" "$n" probes/s max)")" \
				"$(num "$(getstat "$st" "$n" B/op med)")" "$(num "$(getstat "$st" "$n" allocs/op med)")" \
				"$(num "$(getstat "$st" "$n" nsd-cpu-ns/op med)")" \
				"$(getstat "$st" "$n" other-cores med | awk '{ printf($1 == "nan" ? "–" : "%.2f", $1) }')"
		done
		cat <<EOF

*other cores*: CPU used by every other process on the machine while the variant ran (median
over the rounds; the highest median is ${other} of $(nproc) cores). Approximate: 10 ms ticks, and
0.00 when the difference came out negative (the kernel's accounting of this process and of the
machine differ slightly): read it as "about idle".

*sequential* figures are latency figures: with one query in flight the cores go idle between
the query and its answer, and on this VM waking them costs both time and CPU. Rounds in which
the machine was otherwise idle show 1.5–2× the ns/op and cpu-ns/op of rounds in which other work
kept the cores awake, for every variant alike. Their ratios swing accordingly; the cost target
is therefore judged on the *parallel* figures (many probes in flight, as the monitor runs).
EOF
		if awk -v o="$other" 'BEGIN { exit !(o >= 0.2) }'; then
			cat <<EOF

**Caveat: the machine was not quiet** (other processes used up to ${other} cores while variants
ran): absolute figures (ns/op, probes/s, and cpu-ns/op through cache and scheduler effects) are
noisy and pessimistic. The ratios, taken between variants of the same round, are the figures to
trust; rerun \`make bench\` on an idle machine for absolute numbers.
EOF
		fi
		cat <<EOF

Ratios, engine (Probe) / bare (BareExchange), median of the per-round ratios:

- CPU per probe, parallel: $(fmt_ratio "$rp"); sequential: $(fmt_ratio "$rs").
- Throughput (probes/s), parallel: $(fmt_ratio "$rt"); allocs/op, parallel: $(fmt_ratio "$ra").
- For information, CPU per probe against the lower floor BareConn, parallel: $(fmt_ratio "$rf").

Targets:

- Engine costs at most 1.2× the bare loop per probe (cpu-ns/op ratio, parallel): **${ok_cost}**
  (sequential, for information: ${rs%% *}×).
- At least 10,000 probes/s (Probe, parallel, median $(num "$pps")): **${ok_tput}**.
EOF
	} >"$md"
	update_section dns "$md"
	cat "$md"
}

# --- bgp -------------------------------------------------------------------

# bench_bgp: a generated full table (900k IPv4 + 200k IPv6 routes) sent
# over one loopback session to gobgpd v3.37.0 alone and to `reachmon run`
# watching 10,000 prefixes (the neighbor ordinary, then full_table), plus
# two comparison receivers (bench/bgp).
# One sub-benchmark per receiver, each run once per round (-benchtime 1x).
bench_bgp() {
	local out="$RESULTS/bgp" md="$WORK/bgp.md" st="$WORK/bgp.stats"
	local BENCHTIME=1x
	if [ "$REUSE" != 1 ]; then
		log "bgp: building reachmon"
		"$GO" build -o "$WORK/reachmon" ./cmd/reachmon
		export BENCH_BGP_REACHMON="$WORK/reachmon"
	fi
	run_rounds bgp ./bench/bgp/ -test.timeout 60m
	local rounds=("$out"/round-*.txt)
	stats "${rounds[@]}" >"$st"
	local g=BenchmarkIngest/gobgpd r=BenchmarkIngest/reachmon e=BenchmarkIngest/embedded-policy p=BenchmarkIngest/parse-filter
	local ft=BenchmarkIngest/reachmon-full_table
	local rr re rp rc rce peak ok_rate ok_rss feedline fr fc fpk fst ok_frate ok_fpeak ok_fsteady
	rr=$(ratios "$r" "$g" routes/s "${rounds[@]}")
	re=$(ratios "$e" "$g" routes/s "${rounds[@]}")
	rp=$(ratios "$p" "$g" routes/s "${rounds[@]}")
	rc=$(ratios "$r" "$g" cpu-s "${rounds[@]}")
	rce=$(ratios "$e" "$g" cpu-s "${rounds[@]}")
	fr=$(ratios "$ft" "$g" routes/s "${rounds[@]}")
	fc=$(ratios "$ft" "$g" cpu-s "${rounds[@]}")
	fpk=$(ratios "$ft" "$g" peak-MiB "${rounds[@]}")
	fst=$(ratios "$ft" "$g" steady-MiB "${rounds[@]}")
	ok_frate=$(awk -v a="${fr%% *}" 'BEGIN { print (a != "nan" && a + 0 >= 0.9) ? "met" : "NOT met" }')
	ok_fpeak=$(awk -v a="${fpk%% *}" 'BEGIN { print (a != "nan" && a + 0 <= 0.5) ? "met" : "NOT met" }')
	ok_fsteady=$(awk -v a="${fst%% *}" 'BEGIN { print (a != "nan" && a + 0 <= 0.4) ? "met" : "NOT met" }')
	peak=$(getstat "$st" "$r" peak-MiB med)
	ok_rate=$(awk -v a="${rr%% *}" 'BEGIN { print (a != "nan" && a + 0 >= 0.9) ? "met" : "NOT met" }')
	ok_rss=$(awk -v a="$peak" 'BEGIN { print (a != "nan" && a + 0 < 150) ? "met" : "NOT met" }')
	feedline=$(sed -n 's/^# feed: //p' "${rounds[0]}" | head -1)
	f1() { getstat "$st" "$1" "$2" "$3" | awk '{ printf($1 == "nan" ? "–" : "%.1f", $1) }'; }
	{
		cat <<EOF
## BGP full-table ingest: reachmon vs gobgpd alone

Method (\`bench/bgp\`, run by \`scripts/bench.sh bgp\`):

- Feed: generated, deterministic (fixed seed): ${feedline:-900,000 IPv4 + 200,000 IPv6 routes; 10,000 watched prefixes (half of them routes of the feed)}. IPv4 /16–/24 and
  IPv6 /32–/48 with a DFZ-like length mix (60% of IPv4 /24, 52% of IPv6 /48), sorted like a
  table dump, 1–8 IPv4 / 1–4 IPv6 prefixes of one origin per UPDATE, AS paths of 2–7 ASes from
  75,000 origins (half 4-byte), MED on a third, 0–4 communities; IPv6 in MP_REACH_NLRI over the
  IPv4 session. End-of-RIB for both families closes the stream.
- Sender: a minimal BGP speaker in the test process (\`bench/bgp/sender_test.go\`) connecting
  from 127.0.0.2 to the receiver on 127.0.0.1; the UPDATE stream is encoded before the session
  starts and written as fast as the receiver reads it, so the sender costs well under a second
  of CPU and the figures are the receiver's (a GoBGP sender spends ~10 s building its dump and
  would compete for one of the two cores).
- Receivers, each a fresh process per round, one after the other in the order below:
  **gobgpd** v3.37.0 alone (plain config: one passive neighbor, IPv4+IPv6 unicast, no policy);
  **reachmon** = \`reachmon run\` with \`[bgp]\` (one passive neighbor) and 10,000 \`[[prefix]]\`
  entries (half of them routes of the feed, with their origin; half not in the feed), no zones
  or resolvers, log level info; **reachmon full_table** = the same with the neighbor marked
  \`full_table = true\` (reachmon's own BGP session, \`internal/bgp/session\`: each UPDATE is
  decoded and filtered as it is read, no GoBGP server, no Adj-RIB-In).
  For comparison only (not reachmon; \`bench/bgp/alt_test.go\`):
  **embedded-policy** = GoBGP v3.37.0 as a library with the same import policy
  (10,000 prefix-set entries, default reject), no table watch, only an End-of-RIB watch;
  **parse-filter** = no GoBGP RIB at all: a minimal session that decodes each UPDATE with
  GoBGP's packet package and keeps only the watched routes (an Adj-RIB-In-less design).
- Ingest time: from Established (the sender got the receiver's KEEPALIVE) to the end of the
  receiver's work, taken the same way for every receiver: its CPU time (/proc/PID/stat) is
  sampled every 50 ms and the ingest ends at the last 50 ms with ≥ 20 ms of CPU, followed by
  3 s of quiet. Nothing is polled inside GoBGP during the ingest (ListPeer would stall its
  loop). routes/s = routes / ingest time. *eor s*: when the receiver itself reported the
  End-of-RIB processed (reachmon: \`/api/v1/peers\` shows the peer synced, polled every 100 ms;
  the comparison receivers: an End-of-RIB watch); gobgpd alone has no cheap signal for it.
  *send s*: until the sender had written everything (GoBGP reads ahead into an unbounded
  queue). *CPU s*: the receiver's CPU (all threads, GC included) during the ingest.
- Checked after each ingest: gobgpd's \`gobgp neighbor\` received = every route; reachmon's
  \`/api/v1/peers\` synced with exactly the expected number of watched routes; for reachmon
  full_table also \`/api/v1/routes\` route by route: the sender's path to every route of the
  feed inside a watched prefix, with the origin sent and the sender's AS first, and no other
  (the per-peer view is exact); the comparison receivers likewise (counts). *peak*: VmHWM; *steady*: VmRSS 3 s after the ingest; *idle*: VmRSS
  before the session.
- ${ROUNDS} rounds (\`-benchtime 1x\`), medians over the rounds; ratios taken within each
  round. Raw output: \`${out#"$ROOT"/}/raw.txt\`.
$(machine "$out")

| Receiver | ingest s (min–max) | routes/s (min–max) | eor s | send s | CPU s | peak RSS MiB (min–max) | steady RSS MiB | idle RSS MiB |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
		local n
		for n in "$g" "$r" "$ft" "$e" "$p"; do
			local label="${n#BenchmarkIngest/}"
			printf '| %s | %s (%s–%s) | %s (%s–%s) | %s | %s | %s | %s (%s–%s) | %s | %s |\n' "${label/-full_table/ full_table}" \
				"$(f1 "$n" ingest-s med)" "$(f1 "$n" ingest-s min)" "$(f1 "$n" ingest-s max)" \
				"$(num "$(getstat "$st" "$n" routes/s med)")" "$(num "$(getstat "$st" "$n" routes/s min)")" "$(num "$(getstat "$st" "$n" routes/s max)")" \
				"$(f1 "$n" eor-s med)" "$(f1 "$n" send-s med)" "$(f1 "$n" cpu-s med)" \
				"$(num "$(getstat "$st" "$n" peak-MiB med)")" "$(num "$(getstat "$st" "$n" peak-MiB min)")" "$(num "$(getstat "$st" "$n" peak-MiB max)")" \
				"$(num "$(getstat "$st" "$n" steady-MiB med)")" "$(num "$(getstat "$st" "$n" idle-MiB med)")"
		done
		cat <<EOF

Ratios of ingest rate (routes/s) to gobgpd alone, median of the per-round ratios:

- reachmon: $(fmt_ratio "$rr"); CPU used, reachmon / gobgpd: $(fmt_ratio "$rc").
- reachmon full_table: $(fmt_ratio "$fr"); CPU used: $(fmt_ratio "$fc"); peak RSS / gobgpd's
  peak: $(fmt_ratio "$fpk"); steady RSS / gobgpd's steady: $(fmt_ratio "$fst").
- embedded-policy (GoBGP library + the same import policy, no table watch): $(fmt_ratio "$re");
  CPU used: $(fmt_ratio "$rce").
- parse-filter (no GoBGP RIB): $(fmt_ratio "$rp").

Targets:

- reachmon ingests at least 90% as fast as gobgpd alone: **${ok_rate}** (${rr%% *}×).
- reachmon's peak RSS under 150 MB: **${ok_rss}** (median peak $(num "$peak") MiB).
- Issue 17, reachmon with the neighbor marked \`full_table = true\` (medians of the per-round
  ratios to gobgpd alone): ingest rate at least 0.9×: **${ok_frate}** (${fr%% *}×); peak RSS at
  most 0.5× gobgpd's peak: **${ok_fpeak}** (${fpk%% *}×); steady RSS at most 0.4× gobgpd's
  steady: **${ok_fsteady}** (${fst%% *}×); per-peer view exact: checked route by route after
  every ingest (a mismatch fails the run).
EOF
		findings_link bgp
	} >"$md"
	update_section bgp "$md"
	cat "$md"
}

# --- evaluator -------------------------------------------------------------

# bench_evaluator: the pure evaluator over a world of 10,000 zones x 3
# resolvers + their authoritative servers and 20,000 watched prefixes
# (internal/evaluate/bench_test.go).
bench_evaluator() {
	local out="$RESULTS/evaluator" md="$WORK/evaluator.md" st="$WORK/evaluator.stats"
	run_rounds evaluator ./internal/evaluate/ -test.bench '^BenchmarkEvaluator'
	local rounds=("$out"/round-*.txt)
	stats "${rounds[@]}" >"$st"
	{
		cat <<EOF
## Evaluator: events per second and memory

Method (\`internal/evaluate/bench_test.go\`, run by \`scripts/bench.sh evaluator\`):

- World: 10,000 zones, each asked of 3 resolvers and its 2 authoritative servers
  (20,000 nameserver addresses), 20,000 watched prefixes carried by 3 BGP peers, all
  synced. Events go to \`Evaluator.Apply\` in probe rounds (every zone x server once, then
  a \`Tick\` 30 s later on the injected clock), with one BGP route event per 100
  observations.
- *steady*: everything healthy (route events are path changes). *churn*: 10% of the zones
  fail and recover in turn and the route events withdraw and re-announce prefixes, so
  incidents open, update and resolve throughout.
- *heap MiB*: the evaluator's live heap after building the world (heap in use after GC,
  minus the benchmark's own event templates). *Snapshot*: building the \`/api/v1/status\`
  document of the whole world, which the daemon does at most once a second.
- ${ROUNDS} rounds, one process each, \`-benchtime ${BENCHTIME}\`; medians over the rounds.
  Raw output: \`${out#"$ROOT"/}/raw.txt\`.
$(machine "$out")

| Benchmark | ns/event (min–max) | events/s | B/op | allocs/op | heap MiB | incident changes |
|---|---:|---:|---:|---:|---:|---:|
EOF
		local n
		for n in BenchmarkEvaluator/steady BenchmarkEvaluator/churn; do
			printf '| %s | %s (%s–%s) | %s | %s | %s | %s | %s |\n' "${n#BenchmarkEvaluator/}" \
				"$(num "$(getstat "$st" "$n" ns/op med)")" "$(num "$(getstat "$st" "$n" ns/op min)")" "$(num "$(getstat "$st" "$n" ns/op max)")" \
				"$(num "$(getstat "$st" "$n" events/s med)")" "$(num "$(getstat "$st" "$n" B/op med)")" \
				"$(num "$(getstat "$st" "$n" allocs/op med)")" "$(getstat "$st" "$n" heap-MiB med)" "$(num "$(getstat "$st" "$n" changes med)")"
		done
		printf '\nSnapshot: %s ns per snapshot (median), %s B allocated.\n' \
			"$(num "$(getstat "$st" BenchmarkEvaluatorSnapshot ns/op med)")" "$(num "$(getstat "$st" BenchmarkEvaluatorSnapshot B/op med)")"
	} >"$md"
	update_section evaluator "$md"
	cat "$md"
}

# --- latency ---------------------------------------------------------------

# bench_latency: detection latency of the outage-lab scenarios
# (integration/scenario_test.go, real NSD/Unbound/BIRD and the reachmon
# binary in a network namespace; root). Each round runs every scenario once;
# the scenarios write var/detection-latency/<scenario>.json.
bench_latency() {
	local out="$RESULTS/latency" md="$WORK/latency.md" rounds=${BENCH_LATENCY_ROUNDS:-$ROUNDS} r
	local bin="$WORK/integration.test"
	if [ "$REUSE" != 1 ]; then
		rm -rf "$out"
		mkdir -p "$out"
		echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')" >"$out/meta.txt"
		echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.txt"
		log "latency: building ./integration/"
		"$GO" test -c -o "$bin" ./integration/
		for ((r = 1; r <= rounds; r++)); do
			log "latency: round $r/$rounds (about 12 minutes)"
			rm -rf "$ROOT/var/detection-latency"
			# The test binary itself (not go test, which would leave it
			# running on SIGTERM), in the package directory as go test does.
			(cd "$ROOT/integration" && exec env CI=true "$bin" -test.count=1 -test.timeout 30m -test.run '^TestScenario') \
				>"$out/round-$r.log" 2>&1 &
			CHILD=$!
			if ! wait "$CHILD"; then
				CHILD=""
				tail -50 "$out/round-$r.log" >&2
				log "latency: round $r failed"
				return 1
			fi
			CHILD=""
			mkdir -p "$out/round-$r"
			cp "$ROOT"/var/detection-latency/*.json "$out/round-$r/"
		done
		echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.txt"
	fi
	# The rounds the table rests on (BENCH_REUSE: those kept).
	rounds=$(find "$out" -mindepth 1 -maxdepth 1 -type d -name 'round-*' | wc -l)
	# scenario field -> seconds, median over the rounds ("–" when absent).
	lat() {
		local f v vals=()
		for f in "$out"/round-*/"$1".json; do
			[ -f "$f" ] || continue
			v=$(sed -n "s/^ *\"$2\": *\([0-9]*\),*$/\1/p" "$f")
			[ -n "$v" ] && vals+=("$v")
		done
		[ ${#vals[@]} -gt 0 ] || { echo "–"; return; }
		printf '%s\n' "${vals[@]}" | sort -n | awk '{ a[NR] = $1 } END { m = NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.2f", m / 1e9 }'
	}
	# scenario -> the most thread replies to its page over the rounds ("–"
	# when no round recorded the count).
	replies() {
		local f v m=""
		for f in "$out"/round-*/"$1".json; do
			[ -f "$f" ] || continue
			v=$(sed -n 's/^ *"thread_replies": *\([0-9]*\),*$/\1/p' "$f")
			[ -n "$v" ] || continue
			if [ -z "$m" ] || [ "$v" -gt "$m" ]; then m=$v; fi
		done
		echo "${m:-–}"
	}
	local settings
	settings=$(sed -n 's/^ *"settings": *"\(.*\)",*$/\1/p' "$(ls "$out"/round-1/*.json | head -1)" | sed 's/\\"/"/g')
	{
		cat <<EOF
## Detection latency in the outage lab

Method (\`integration/scenario_test.go\`, run by \`scripts/bench.sh latency\`, as root): the
combined lab of \`integration/outagelab\` — NSD serving a DNSSEC-signed tree, three validating
Unbound resolvers, two BIRD peers announcing the prefixes that cover the nameservers and
resolvers (and a covering /17), a local Slack Web API stand-in — all inside a network namespace
on 198.18.0.0/16, with the reachmon binary as a user runs it. Faults are real: BIRD withdraws
routes, nftables drops packets, NSD stops, the zone is re-signed. *page*: fault → the Slack
\`chat.postMessage\` of the incident; *open*: fault → the incident opened; *confirm*: fault →
(facebook) resolvers failing once caches expired, (delegation-removed, record-deleted) every
resolver failing too, (signature-expiry) critical after the second re-sign inside the TTL;
*resolve*: recovery → the \`chat.update\` marking
it resolved (includes \`resolve_after\` / \`bgp_resolve_after\`); *replies*: replies in the page's
Slack thread at the end of the scenario (material updates and the resolve), the most over the
rounds. ${rounds} round(s), medians.
Lab settings: \`${settings}\`.
- Run at $(meta "$out" date); load average $(meta "$out" load_start) at the start, $(meta "$out" load_end) at the end.

| scenario | page s | open s | confirm s | resolve s | replies |
|---|---:|---:|---:|---:|---:|
EOF
		local s r most=""
		for s in facebook slack authoritative resolver hijack feed-lost vantage-down flapping delegation-removed record-deleted signature-expiry lame-delegation; do
			r=$(replies "$s")
			printf '| %s | %s | %s | %s | %s | %s |\n' "$s" "$(lat "$s" to_page_ns)" "$(lat "$s" to_open_ns)" "$(lat "$s" to_confirm_ns)" "$(lat "$s" to_resolve_ns)" "$r"
			if [ "$r" != "–" ] && { [ -z "$most" ] || [ "$r" -gt "$most" ]; }; then most=$r; fi
		done
		local fb dns res
		fb=$(lat facebook to_page_ns)
		dns=$(lat authoritative to_page_ns)
		res=$(lat resolver to_page_ns)
		cat <<EOF

Goals (issue 7):

- A Facebook-style withdrawal pages within 2 s of the withdrawal reaching reachmon:
  **$(awk -v x="$fb" 'BEGIN { print (x != "–" && x + 0 <= 2) ? "met" : "NOT met" }')** (${fb} s; the early page, before resolver caches expire).
- A DNS-only failure pages within open_rounds x interval + 1 s = 3 s at these settings:
  authoritative outage **$(awk -v x="$dns" 'BEGIN { print (x != "–" && x + 0 <= 3) ? "met" : "NOT met" }')** (${dns} s);
  resolver outage **$(awk -v x="$res" 'BEGIN { print (x != "–" && x + 0 <= 3) ? "met" : "NOT met" }')** (${res} s: a timing-out resolver
  is known only after each probe's 800 ms timeout, and with control zones set a DNS incident
  also waits for some other check, here the other resolvers', to be answered after it began, so
  that a vantage losing its network opens vantage_down instead of zone pages: 3.98 s before the
  other resolvers' answers counted for that, on 2026-11-23);
  Slack-style $(lat slack to_page_ns) s (the DS-vs-DNSKEY check pages a warning before resolvers fail).
- *feed-lost* and *vantage-down* are the monitor's own problems: they open an incident but page
  nobody (no page column), by design.

Goals (issue 12):

- At most 5 thread replies per incident in every scenario:
  **$(awk -v x="${most:-–}" 'BEGIN { print (x != "–" && x + 0 <= 5) ? "met" : "NOT met" }')** (most: ${most:-–}).
- A resolver whose own route is withdrawn while its probes fail pages within 2 s of the
  withdrawal (the *resolver* scenario drops its packets and withdraws its /24 at once):
  **$(awk -v x="$res" 'BEGIN { print (x != "–" && x + 0 <= 2) ? "met" : "NOT met" }')** (${res} s).
- *signature-expiry* and *lame-delegation* page forecasts (dnssec_expiry, delegation_inconsistent)
  before anything fails; their *page* counts from the re-sign / the NS added at the parent and
  includes the 10 s the forecasts settle before they open.
EOF
	} >"$md"
	update_section latency "$md"
	cat "$md"
}

# duration_secs DURATION: a Go duration such as 10m, 90s, 1h30m, 250ms in
# whole seconds.
duration_secs() {
	awk -v d="$1" 'BEGIN {
		s = 0
		while (match(d, /^[0-9.]+(h|ms|m|s)/)) {
			v = substr(d, 1, RLENGTH); u = v; sub(/^[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
			s += v * (u == "h" ? 3600 : u == "m" ? 60 : u == "ms" ? 0.001 : 1)
			d = substr(d, RLENGTH + 1)
		}
		printf "%d\n", s
	}'
}

# Benchmarks kept in their own files (scripts/bench.d/NAME.sh, each
# defining bench_NAME with the helpers above).
for f in "$ROOT"/scripts/bench.d/*.sh; do
	[ -e "$f" ] || continue
	# shellcheck source=/dev/null
	. "$f"
done

# --- main ------------------------------------------------------------------

main() {
	local want=("$@") name
	[ ${#want[@]} -gt 0 ] || want=("${BENCHES[@]}")
	for name in "${want[@]}"; do
		if ! declare -F "bench_$name" >/dev/null; then
			log "unknown benchmark '$name' (have: ${BENCHES[*]})"
			exit 2
		fi
	done
	mkdir -p "$RESULTS"
	for name in "${want[@]}"; do
		"bench_$name"
	done
}

main "$@"

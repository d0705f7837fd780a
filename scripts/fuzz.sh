#!/usr/bin/env bash
# Runs every Fuzz* target in the module, each for the given budget, and
# fails when a target did not really fuzz: fewer inputs than FUZZMININPUTS
# (default 10000; a smaller count budget is its own bar), fewer executions
# per second than FUZZMINRATE (default 100), or a count budget not reached.
# It prints each target's inputs and rate (the fuzzer's last "execs: N"
# line over its elapsed time, which includes gathering baseline coverage).
#
# The default budget is a count of inputs ("20000x"), not a duration: with a
# duration, Go 1.26's fuzz coordinator can report its own deadline as a
# failure ("context deadline exceeded", no failing input written;
# go.dev/issue/75804). A count has no deadline to race. `make fuzz
# FUZZTIME=5m` still runs by time for a longer search.
#
# Minimizing is off (FUZZMINIMIZE, -fuzzminimizetime, default 0): an input
# that reaches new coverage is otherwise sent back to a worker to be made
# smaller before fuzzing goes on, trying the removal of every byte and
# every range of bytes (quadratic in its size), each a coverage-instrumented
# run, for up to 60 s, and its executions are reported only when it ends.
# Mutants of large seeds (the shipped configs for FuzzParse, a saved state
# for FuzzStoreLoad) reach new coverage at once, so both workers sat
# minimizing: FuzzParse with a 10s budget ran 7 to 11 inputs in all
# ("0/sec"). Bounded at 2s it still took up to 40% of the workers' time,
# and under a count budget each minimization may spend half the budget;
# off, the same 20000 inputs reached more coverage. A failing input is then
# written as found. BENCHMARKS.md has the measurements.
#
# The state-file targets write and fsync files on every input; TMPDIR goes
# to a tmpfs (/dev/shm) when there is one, or they run at disk speed.
# A target that stalls fails instead of hanging: FUZZTIMEOUT (default 10m)
# bounds each run with timeout(1), which signals the whole process group
# (go, the test binary, its fuzz workers). go test's own -timeout does not
# apply while fuzzing (testing stops its alarm before the fuzzing phase).
# FUZZONLY (a regular expression) limits the run to the targets it matches.
set -euo pipefail
budget=${1:-20000x}
minimize=${FUZZMINIMIZE:-0}
min_inputs=${FUZZMININPUTS:-10000}
min_rate=${FUZZMINRATE:-100}
timeout=${FUZZTIMEOUT:-10m}
cd "$(dirname "$0")/.."

if [[ $budget =~ ^([0-9]+)x$ ]] && ((BASH_REMATCH[1] < min_inputs)); then
	min_inputs=${BASH_REMATCH[1]}
fi
if [[ -z ${FUZZTMPDIR:-} && -d /dev/shm && -w /dev/shm ]]; then
	FUZZTMPDIR=/dev/shm
fi
work=$(mktemp -d "${FUZZTMPDIR:-${TMPDIR:-/tmp}}/reachmon-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
export TMPDIR=$work

# seconds converts the fuzzer's elapsed time ("0s", "45s", "1m5s", "1h0m3s").
seconds() {
	[[ $1 =~ ^(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?$ ]] || return 1
	echo $((${BASH_REMATCH[2]:-0} * 3600 + ${BASH_REMATCH[4]:-0} * 60 + ${BASH_REMATCH[6]:-0}))
}

# check prints one summary line for a target's run and fails if it did not fuzz.
check() {
	local name=$1 rc=$2 log=$3 last elapsed secs execs rate why=""
	last=$(grep -E '^fuzz: elapsed: [0-9hms]+, execs: [0-9]+ ' "$log" | tail -n 1 || true)
	if [[ -z $last ]]; then
		why="no \"execs:\" line: the target never fuzzed"
		execs=0 rate=0 elapsed=?
	else
		[[ $last =~ elapsed:\ ([0-9hms]+),\ execs:\ ([0-9]+) ]]
		elapsed=${BASH_REMATCH[1]} execs=${BASH_REMATCH[2]}
		secs=$(seconds "$elapsed")
		rate=$((execs / (secs > 0 ? secs : 1)))
		if [[ $budget =~ ^([0-9]+)x$ ]] && ((execs < BASH_REMATCH[1])); then
			why="budget of ${BASH_REMATCH[1]} inputs not reached"
		elif ((execs < min_inputs)); then
			why="fewer than $min_inputs inputs"
		elif ((rate < min_rate)); then
			why="below $min_rate execs/sec"
		fi
	fi
	if ((rc == 124)); then
		why="stopped after $timeout${why:+; $why}"
	elif ((rc != 0)); then
		why="go test failed (exit $rc)${why:+; $why}"
	fi
	printf 'fuzz: %-4s %-42s %8d inputs in %6s = %6d execs/sec%s\n' \
		"$([[ -z $why ]] && echo ok || echo FAIL)" "$name" "$execs" "$elapsed" "$rate" "${why:+: $why}" >>"$work/summary"
	[[ -z $why ]]
}

limit=()
if command -v timeout >/dev/null; then
	limit=(timeout --signal=INT --kill-after=30s "$timeout")
fi

failed=0
while read -r f; do
	dir=$(dirname "$f")
	for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
		[[ $fn =~ ${FUZZONLY:-.} ]] || continue
		echo "fuzz: $dir $fn ($budget, minimize $minimize)"
		log="$work/$fn.log"
		rc=0
		"${limit[@]}" go test -run='^$' -fuzz="^${fn}\$" -fuzztime="$budget" -fuzzminimizetime="$minimize" \
			-timeout "$timeout" "$dir" 2>&1 | tee "$log" || rc=$?
		check "${dir#./} $fn" "$rc" "$log" || failed=1
	done
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | sort)

echo "fuzz: summary (budget $budget, minimize $minimize; each target needs $min_inputs inputs and $min_rate execs/sec)"
cat "$work/summary"
exit $failed

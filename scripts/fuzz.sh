#!/usr/bin/env bash
# Runs every Fuzz* target in the module, each for the given budget.
#
# The default budget is a count of inputs ("20000x"), not a duration: with a
# duration, Go 1.26's fuzz coordinator can report its own deadline as a
# failure ("context deadline exceeded", no failing input written;
# go.dev/issue/75804). A count has no deadline to race. `make fuzz
# FUZZTIME=5m` still runs by time for a longer search.
#
# Minimizing a newly interesting input is not counted as an execution and
# may take up to a minute by default, during which the coverage-guided
# workers report 0 execs/sec; FUZZMINIMIZE bounds it so that the budget is
# spent searching. -timeout turns a stalled target into a failure instead of
# a hang.
set -euo pipefail
t=${1:-20000x}
minimize=${FUZZMINIMIZE:-2s}
cd "$(dirname "$0")/.."
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
	dir=$(dirname "$f")
	for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
		echo "fuzz: $dir $fn ($t)"
		go test -run='^$' -fuzz="^${fn}\$" -fuzztime="$t" -fuzzminimizetime="$minimize" -timeout 10m "$dir"
	done
done

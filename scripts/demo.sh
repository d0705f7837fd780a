#!/bin/sh
# make demo: build reachmon, start the outage lab (NSD, validating Unbound,
# BIRD peers, a Slack stand-in, Prometheus and reachmon, all inside a network
# namespace), play the Facebook-style and Slack-style outages with a
# readable timeline and a summary, then leave reachmon and Prometheus
# running (forwarded to host loopback) until Ctrl-C, the normal way out:
# everything is stopped and cleaned up and the exit status is 0. A demo that
# could not start or whose outage was not paged exits non-zero.
# Needs root (namespaces, nftables, port 53).
set -eu
cd "$(dirname "$0")/.."
REACHMON_PORT=${REACHMON_PORT:-19798}
PROM_PORT=${PROM_PORT:-19090}
if [ "$(id -u)" != 0 ]; then
	echo "make demo needs root (network namespace, nftables, port 53): sudo make demo" >&2
	exit 1
fi
./scripts/install-test-deps.sh
echo "reachmon will be on http://127.0.0.1:${REACHMON_PORT}/ and Prometheus on http://127.0.0.1:${PROM_PORT}/ once the lab is up"
# Ctrl-C is for the demo, not for make or the go command (both would turn
# it into a failure: make reports an interrupted recipe, `go test` exits 1
# after any interrupt): the test binary is built first and run by itself,
# and on a terminal job control runs it in its own foreground process
# group, so that only it gets Ctrl-C. Without a terminal, a SIGINT to the
# whole group (kill -INT -- -PGID) only makes this script wait for the
# demo's own verdict.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap : INT
go test -c -o "$tmp/integration.test" ./integration/
if [ -t 0 ]; then
	set -m
fi
status=0
(cd integration && exec env REACHMON_DEMO=1 REACHMON_OUTAGELAB_STREAM=1 REACHMON_OUTAGELAB_TIMEOUT=24h \
	REACHMON_OUTAGELAB_FORWARD="127.0.0.1:${REACHMON_PORT}=reachmon,127.0.0.1:${PROM_PORT}=prometheus" \
	"$tmp/integration.test" -test.run '^TestDemo$' -test.count=1 -test.timeout=0) || status=$?
if [ "$status" != 0 ]; then
	echo "make demo failed (exit status $status): see the output above" >&2
	exit "$status"
fi
echo "lab stopped and cleaned up"

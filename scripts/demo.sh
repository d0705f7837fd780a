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
# Ctrl-C is for the demo, not for make: on a terminal, job control runs the
# demo in its own foreground process group, so make (which would report an
# interrupted recipe and die by the signal) and this script never get it.
# Without a terminal, a SIGINT to the whole group (kill -INT -- -PGID) only
# makes this script wait for the demo's own verdict.
if [ -t 0 ]; then
	set -m
fi
trap : INT
status=0
env REACHMON_DEMO=1 REACHMON_OUTAGELAB_STREAM=1 REACHMON_OUTAGELAB_TIMEOUT=24h \
	REACHMON_OUTAGELAB_FORWARD="127.0.0.1:${REACHMON_PORT}=reachmon,127.0.0.1:${PROM_PORT}=prometheus" \
	go test -count=1 -timeout 0 -run '^TestDemo$' -v ./integration/ || status=$?
if [ "$status" != 0 ]; then
	echo "make demo failed (exit status $status): see the output above" >&2
	exit "$status"
fi
echo "lab stopped and cleaned up"

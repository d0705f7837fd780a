#!/bin/sh
# make demo: build reachmon, start the outage lab (NSD, validating Unbound,
# BIRD peers, a Slack stand-in, Prometheus and reachmon, all inside a network
# namespace), play the Facebook-style and Slack-style outages with a
# readable timeline, then leave reachmon and Prometheus running (forwarded
# to host loopback) until Ctrl-C. Needs root (namespaces, nftables, port 53).
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
exec env REACHMON_DEMO=1 REACHMON_OUTAGELAB_STREAM=1 REACHMON_OUTAGELAB_TIMEOUT=24h \
	REACHMON_OUTAGELAB_FORWARD="127.0.0.1:${REACHMON_PORT}=reachmon,127.0.0.1:${PROM_PORT}=prometheus" \
	go test -count=1 -timeout 0 -run '^TestDemo$' -v ./integration/

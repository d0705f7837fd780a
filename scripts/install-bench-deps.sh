#!/usr/bin/env bash
# Installs what `make bench` needs beyond the test dependencies: the peer
# tools reachmon is measured against, prometheus-blackbox-exporter and
# dnsperf (Debian packages). Needs root for apt; without it, says what to
# run. The benchmarks start their own instances: the packaged service is
# not started (scripts/apt-install.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-deps.sh

need=(
	prometheus-blackbox-exporter:prometheus-blackbox-exporter
	dnsperf:dnsperf
)
missing=()
for pair in "${need[@]}"; do
	pkg=${pair%%:*} cmd=${pair#*:}
	command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -gt 0 ] || exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "install-bench-deps: missing Debian packages: ${missing[*]}" >&2
	echo "install-bench-deps: run 'sudo apt-get install -y ${missing[*]}' (or run make bench as root)." >&2
	exit 1
fi
echo "install-bench-deps: installing ${missing[*]} (their packaged services are not started)" >&2
exec ./scripts/apt-install.sh "${missing[@]}"

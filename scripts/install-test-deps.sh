#!/usr/bin/env bash
# Installs what reachmon's tests need when it is missing: the real daemons
# the integration tests run (NSD, Unbound, BIRD 2, gobgpd and FRR as BMP senders, Prometheus, Alertmanager), the DNSSEC
# tools (ldnsutils), dig, and systemd-analyze (to verify the shipped unit). Go modules come through the module proxy when
# `go test` builds. Debian packages need root; without it, say what to do.
set -euo pipefail

# package:command pairs; a package is installed when its command is missing.
need=(
	nsd:nsd
	unbound:unbound
	ldnsutils:ldns-signzone
	bind9-dnsutils:dig
	bird2:bird
	gobgpd:gobgpd
	frr:/usr/lib/frr/bgpd
	prometheus:promtool
	prometheus-alertmanager:prometheus-alertmanager
	nftables:nft
	iproute2:ip
	systemd:systemd-analyze
	stayrtr:stayrtr
)

missing=()
for pair in "${need[@]}"; do
	pkg=${pair%%:*} cmd=${pair#*:}
	case $cmd in
	/*) [ -x "$cmd" ] || missing+=("$pkg") ;; # a full path: daemons outside PATH (FRR's bgpd)
	*) command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg") ;;
	esac
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-test-deps: missing Debian packages: ${missing[*]}" >&2
	echo "install-test-deps: run 'sudo apt-get install -y ${missing[*]}' (or run make test as root)." >&2
	echo "install-test-deps: without them the integration tests skip (and fail when CI=true)." >&2
	exit 0
fi
echo "install-test-deps: installing ${missing[*]} (their packaged services are not started)" >&2
exec "$(dirname "$0")/apt-install.sh" "${missing[@]}"

#!/usr/bin/env bash
# apt-install.sh PKG...: installs Debian packages without starting the
# services they ship. While apt-get runs, /usr/sbin/policy-rc.d answers 101
# ("action forbidden"), so a packaged nsd, unbound, bird or prometheus is
# never started: the tests run their own instances, and nothing that was
# already running on this machine is stopped or killed. A policy-rc.d that
# was there before is put back afterwards.
set -euo pipefail
[ $# -gt 0 ] || exit 0
policy=/usr/sbin/policy-rc.d
saved=""
if [ -e "$policy" ]; then
	saved=$(mktemp)
	cp -p "$policy" "$saved"
fi
restore() {
	if [ -n "$saved" ]; then
		cp -p "$saved" "$policy"
		rm -f "$saved"
	else
		rm -f "$policy"
	fi
}
trap restore EXIT
printf '#!/bin/sh\n# reachmon apt-install.sh: no service starts during this install\nexit 101\n' >"$policy"
chmod 0755 "$policy"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || true
apt-get install -y -qq --no-install-recommends "$@" >/dev/null

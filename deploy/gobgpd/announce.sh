#!/bin/sh
# Starts gobgpd, then announces the demo routes (documentation prefixes):
#   198.51.100.0/24    origin AS 64500  (watched by reachmon, expected origin)
#   203.0.113.0/24     origin AS 64500  (watched by reachmon, expected origin)
#   198.51.100.128/25  origin AS 64666  (a more-specific from an unexpected
#                                        AS: reachmon reports a prefix hijack)
# Withdraw one to see a prefix_withdrawn incident:
#   docker compose exec gobgpd gobgp global rib del -a ipv4 203.0.113.0/24
set -eu
gobgpd -f /etc/gobgpd/gobgpd.toml --api-hosts 127.0.0.1:50051 --pprof-disable &
pid=$!
trap 'kill -TERM "$pid"; wait "$pid"' TERM INT
i=0
until gobgp global >/dev/null 2>&1; do
	i=$((i + 1))
	[ "$i" -lt 50 ] || { echo "gobgpd did not start" >&2; exit 1; }
	sleep 0.2
done
gobgp global rib add -a ipv4 198.51.100.0/24 origin igp aspath 64500
gobgp global rib add -a ipv4 203.0.113.0/24 origin igp aspath 64500
gobgp global rib add -a ipv4 198.51.100.128/25 origin igp aspath 64666
echo "gobgpd: demo routes announced"
wait "$pid"

#!/usr/bin/env bash
# Prints config/alerts.yml with its three parameters set, the way a
# monitoring mixin's _config is: the series selector every rule reads, the
# runbook base URL and the Grafana base URL of the annotations. The shipped
# file holds the defaults literally (job=~"reachmon.*", docs/alerts.md on
# GitHub, the docker-compose Grafana at http://127.0.0.1:3000); they are
# replaced outside comments. Check the result with `promtool check rules`.
#
#   scripts/alerts-config.sh --selector 'job="dns-monitor"' \
#     --runbook-url https://wiki.example/reachmon-alerts \
#     --grafana https://grafana.example > /etc/prometheus/reachmon-alerts.yml
set -euo pipefail

default_selector='job=~"reachmon.*"'
default_runbooks='https://github.com/reachmon/reachmon/blob/main/docs/alerts.md'
default_grafana='http://127.0.0.1:3000'
selector=$default_selector
runbooks=$default_runbooks
grafana=$default_grafana

usage() {
	echo "usage: $0 [--selector MATCHERS] [--runbook-url URL] [--grafana URL] > alerts.yml"
	echo "  --selector     label matchers added to every series the rules read (default: $default_selector)"
	echo "  --runbook-url  page whose #alertname anchors explain each alert (default: $default_runbooks)"
	echo "  --grafana      Grafana base URL of the dashboard links (default: $default_grafana)"
}
die() {
	echo "alerts-config.sh: $*" >&2
	usage >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--selector | --runbook-url | --grafana)
		[ $# -ge 2 ] || die "$1 needs a value"
		case $1 in
		--selector) selector=$2 ;;
		--runbook-url) runbooks=$2 ;;
		--grafana) grafana=${2%/} ;;
		esac
		shift 2
		;;
	-h | --help)
		usage
		exit 0
		;;
	*) die "unknown argument $1" ;;
	esac
done

# One or more PromQL label matchers, comma-separated: name, operator,
# double-quoted value (what goes between the braces of a selector).
matcher='[a-zA-Z_][a-zA-Z0-9_]*[[:space:]]*(=|!=|=~|!~)[[:space:]]*"([^"\\]|\\.)*"'
if ! [[ $selector =~ ^$matcher([[:space:]]*,[[:space:]]*$matcher)*$ ]]; then
	die "--selector $selector is not label matchers such as job=\"reachmon\" or job=~\"reachmon-.*\", cluster=\"eu\""
fi
for u in "$runbooks" "$grafana"; do
	[[ $u =~ ^https?://[^[:space:]]+$ ]] || die "$u is not an http(s) URL"
done

# sed replacement text: escape \, & and the | delimiter.
esc() { printf '%s' "$1" | sed 's/[\\&|]/\\&/g'; }

sed -E \
	-e "/^[[:space:]]*#/!s|job=~\"reachmon\\.\\*\"|$(esc "$selector")|g" \
	-e "/^[[:space:]]*#/!s|https://github\\.com/reachmon/reachmon/blob/main/docs/alerts\\.md|$(esc "$runbooks")|g" \
	-e "/^[[:space:]]*#/!s|http://127\\.0\\.0\\.1:3000|$(esc "$grafana")|g" \
	"$(dirname "$0")/../config/alerts.yml"

#!/usr/bin/env bash
# Runs govulncheck on the module against a Go vulnerability database built
# from the Go module proxy alone, so that it works where vuln.go.dev is not
# reachable (only the proxy is needed, and nothing once it is cached).
#
# The data is the OSV reports in the golang.org/x/vulndb module
# (data/osv/*.json) at the pinned version VULNDB below: the database is as
# old as that commit (the script prints its date). vulndb's own indexdb
# command writes them in the v1 layout that `govulncheck -db file://`
# reads; the result is cached in the module cache
# ($GOMODCACHE/cache/reachmon-vulndb/<version>), built once per version.
# Both tools run with `go run pkg@version`: neither is in go.mod.
#
# To take newer vulnerability data, set VULNDB to a newer pseudo-version
# of golang.org/x/vulndb (`go list -m -json golang.org/x/vulndb@master`
# names the latest) and commit it.
set -euo pipefail
GOVULNCHECK=golang.org/x/vuln/cmd/govulncheck@v1.9.0
VULNDB=${VULNDB:-v0.0.0-20261105234957-e22db6528018}
cd "$(dirname "$0")/.."
root=$PWD

# Outside the module, so that no go.mod or go.sum is consulted or changed.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
info=$(go mod download -json "golang.org/x/vulndb@$VULNDB")
field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}$/\1/p" <<<"$info"; }
src=$(field Dir) info_file=$(field Info)
if [[ -z $src || ! -d $src/data/osv ]]; then
	echo "vulncheck: golang.org/x/vulndb@$VULNDB has no data/osv directory" >&2
	exit 1
fi
db=$(go env GOMODCACHE)/cache/reachmon-vulndb/$VULNDB
if [[ ! -f $db/index/db.json ]]; then
	mkdir -p "$(dirname "$db")"
	tmp=$(mktemp -d "$db.tmp-XXXXXX")
	go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB" -vulns "$src/data/osv" -out "$tmp/db"
	rm -rf "$db"
	mv "$tmp/db" "$db"
	rmdir "$tmp"
fi
echo "vulncheck: $GOVULNCHECK, database golang.org/x/vulndb@$VULNDB" \
	"($(ls "$src/data/osv" | wc -l) reports, $(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$info_file"))"
cd "$root"
go run "$GOVULNCHECK" -db "file://$db" ./...

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
# Both tools run at pinned versions (`go run` / `go install pkg@version`):
# neither is in go.mod.
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
out=$scratch/govulncheck.txt
status=0
# Installed rather than run with `go run`, which turns every exit status
# into 1: govulncheck's 3 means "vulnerabilities found", judged below.
GOBIN=$scratch/bin go install "$GOVULNCHECK"
"$scratch/bin/govulncheck" -db "file://$db" ./... >"$out" 2>&1 || status=$?
if ((status != 0 && status != 3)); then # 3: vulnerabilities found
	cat "$out"
	echo "vulncheck: govulncheck failed (exit $status)" >&2
	exit "$status"
fi
# The findings in short (the example call traces make thousands of lines;
# `make vulncheck VULNCHECK_VERBOSE=1` prints them).
if [[ -n ${VULNCHECK_VERBOSE:-} ]]; then
	cat "$out"
else
	grep -E '^Vulnerability #|^ +(Found|Fixed) in:|^No vulnerabilities' "$out" || true
fi
# Judge each finding. A finding in a module must be fixed (raise the module)
# or accepted in scripts/vulncheck-accepted.txt with the reason. A finding
# only in the standard library is fixed by a newer Go toolchain, which is the
# machine's (this project builds with Go 1.26; release images take the newest
# 1.26.x): it is reported here as a warning naming the release to move to.
accepted=$root/scripts/vulncheck-accepted.txt
awk -v accepted="$accepted" '
	BEGIN {
		while ((getline line < accepted) > 0) {
			if (line ~ /^GO-[0-9]+-[0-9]+[ \t]/) { split(line, f, /[ \t]+/); ok[f[1]] = 1 }
		}
	}
	function judge() {
		if (id == "") return
		if (!mod) { std[id] = fix; nstd++ }
		else if (!(id in ok)) { print "vulncheck: " id " in " modname " is neither fixed nor accepted in scripts/vulncheck-accepted.txt" > "/dev/stderr"; bad++ }
		else { nacc++ }
	}
	/^Vulnerability #[0-9]+: GO-/ { judge(); id = $3; mod = 0; fix = ""; modname = "" }
	/^ *Found in: / { split($3, p, "@"); if (p[2] !~ /^go[0-9]/) { mod = 1; modname = p[1] } }
	function vkey(v,   n) { sub(/^go/, "", v); split(v, n, "."); return n[1] * 1000000 + n[2] * 1000 + n[3] }
	/^ *Fixed in: .*@go[0-9]/ { split($3, p, "@"); if (fix == "" || vkey(p[2]) > vkey(fix)) fix = p[2] }
	END {
		judge()
		if (nstd) {
			newest = ""
			for (i in std) if (newest == "" || vkey(std[i]) > vkey(newest)) newest = std[i]
			printf "vulncheck: WARNING: %d finding(s) in the standard library of this Go toolchain, the last fixed in %s: build with %s or newer\n", nstd, newest, newest > "/dev/stderr"
		}
		if (nacc) printf "vulncheck: %d finding(s) accepted in scripts/vulncheck-accepted.txt\n", nacc > "/dev/stderr"
		exit bad ? 1 : 0
	}
' "$out"

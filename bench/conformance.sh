#!/bin/sh
# conformance.sh runs the IPFS gateway conformance suite
# (github.com/ipfs/gateway-conformance) against hubd and kubo side by side
# and prints each one's pass and fail counts per spec.
#
#   bench/conformance.sh /path/to/gateway-conformance   (or GATEWAY_CONFORMANCE=...)
#
# The suite is not on the Go module proxy, so it is not part of make test:
# give the path of a checkout (a clone of the repository). Nothing of it is
# copied into this tree. The script
#
#   1. builds hubd and hub from this tree, the suite's test binary and its
#      fixture extractor, and kubo (bench/kubo/build.sh, cached in
#      bench/.cache);
#   2. starts each daemon on a fresh repo on loopback ports, offline;
#   3. loads the suite's fixtures through each one's own import path: kubo
#      takes every CAR with `ipfs dag import` and every IPNS record with
#      `ipfs routing put`; hubd takes each CAR it can hold (UnixFS) into a
#      bucket with `hub buck add --car` and holds no other IPNS names than
#      its buckets' keys;
#   4. runs the trustless-gateway and path-gateway specs against each and
#      counts the tests that pass and fail: the leaves of the suite's tree of
#      tests and subtests, as its JSON report (`go test -json`) lists them
#      (a parent passes or fails with them; skipped ones are not counted).
#
# SPECS overrides the specs run (comma-separated); KEEP=1 keeps the work
# directory (logs, reports) instead of removing it. Any failure to build or
# start stops the script with a message; failing tests do not.
set -eu

fail() { echo "bench/conformance.sh: $*" >&2; exit 1; }

suite=${1:-${GATEWAY_CONFORMANCE:-}}
[ -n "$suite" ] || fail "give the path of a gateway-conformance checkout: make conformance GATEWAY_CONFORMANCE=/path (clone github.com/ipfs/gateway-conformance)"
[ -d "$suite" ] || fail "$suite does not exist; clone github.com/ipfs/gateway-conformance there"
suite=$(cd "$suite" && pwd)
grep -q '^module github.com/ipfs/gateway-conformance$' "$suite/go.mod" 2>/dev/null ||
	fail "$suite is not a gateway-conformance checkout (no go.mod of module github.com/ipfs/gateway-conformance)"
[ -d "$suite/tests" ] || fail "$suite has no tests directory; is the checkout complete?"
for tool in go jq; do
	command -v $tool >/dev/null || fail "$tool is not on PATH"
done
specs=${SPECS:-trustless-gateway,path-gateway}

here=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "$here/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/hub-conformance.XXXXXX")
pids=""
cleanup() {
	for pid in $pids; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	done
	if [ "${KEEP:-}" = 1 ]; then
		echo "work directory kept: $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bin=$work/bin
mkdir -p "$bin"

echo "building hubd, hub, the suite and kubo" >&2
(cd "$tree" && go build -o "$bin/" ./cmd/hubd ./cmd/hub) || fail "go build of hubd and hub failed"
(cd "$suite" && go build -o "$bin/" ./cmd/gateway-conformance) || fail "go build of the suite's command failed"
(cd "$suite" && go test -c -o "$bin/conformance.test" ./tests) || fail "go test -c of the suite's tests failed"
ipfs=$(sh "$here/kubo/build.sh" | tail -n 1) || fail "bench/kubo/build.sh failed"
[ -x "$ipfs" ] || fail "bench/kubo/build.sh gave no ipfs binary ($ipfs)"

fixtures=$work/fixtures
(cd "$suite" && "$bin/gateway-conformance" extract-fixtures --directory "$fixtures" >/dev/null) ||
	fail "extracting the suite's fixtures failed"

# waitlog FILE PATTERN PID waits until a line of FILE matches PATTERN,
# failing if process PID exits first or two minutes pass.
waitlog() {
	n=0
	until grep -q "$2" "$1"; do
		kill -0 "$3" 2>/dev/null || fail "the daemon exited before it was ready; its log: $1 (KEEP=1 keeps it)"
		n=$((n + 1))
		[ $n -lt 1200 ] || fail "the daemon was not ready within two minutes; its log: $1 (KEEP=1 keeps it)"
		sleep 0.1
	done
}

echo "starting kubo ($("$ipfs" version --number))" >&2
export IPFS_PATH="$work/kubo"
"$ipfs" init --empty-repo --profile test >/dev/null || fail "ipfs init failed"
"$ipfs" daemon --offline >"$work/kubo.log" 2>&1 &
pids="$pids $!"
waitlog "$work/kubo.log" '^Daemon is ready' $!
kubo=$(sed -n 's|^Gateway server listening on /ip4/\([0-9.]*\)/tcp/\([0-9]*\).*|\1:\2|p' "$work/kubo.log" | head -n 1)
[ -n "$kubo" ] || fail "kubo did not say where its gateway listens; see $work/kubo.log"
kuboCARs=0
for car in $(find "$fixtures" -name '*.car' | sort); do
	"$ipfs" dag import --pin-roots=false "$car" >>"$work/kubo-import.log" 2>&1 || fail "ipfs dag import $car failed; see $work/kubo-import.log"
	kuboCARs=$((kuboCARs + 1))
done
for rec in $(find "$fixtures" -name '*.ipns-record' | sort); do
	name=$(basename "$rec" .ipns-record | cut -d_ -f1)
	"$ipfs" routing put --allow-offline "/ipns/$name" "$rec" >>"$work/kubo-import.log" 2>&1 ||
		echo "kubo refused the IPNS record $rec (see $work/kubo-import.log)" >&2
done

echo "starting hubd" >&2
"$bin/hubd" --repo "$work/hubd" --dev --log-format json --ipfs-dht off \
	--api-addr 127.0.0.1:0 --web-addr 127.0.0.1:0 --gateway-addr 127.0.0.1:0 --s3-addr 127.0.0.1:0 --p2p-addr /ip4/127.0.0.1/tcp/0 \
	>"$work/hubd.log" 2>&1 &
pids="$pids $!"
waitlog "$work/hubd.log" '"msg":"hubd ready"' $!
ready=$(grep '"msg":"hubd ready"' "$work/hubd.log" | head -n 1)
api=$(printf '%s' "$ready" | jq -r .api)
hubgw=$(printf '%s' "$ready" | jq -r .gateway)
export HUB_HOME="$work/hub-home" HUB_API="$api"
"$bin/hub" init --username conformance --email conformance@example.com >/dev/null 2>&1 ||
	fail "hub init on hubd failed; see $work/hubd.log"
folder=$work/bucket
mkdir -p "$folder"
"$bin/hub" buck init --dir "$folder" --name fixtures >/dev/null || fail "hub buck init failed"
hubCARs=0
for car in $(find "$fixtures" -name '*.car' | sort); do
	at=${car#"$fixtures"/}
	if "$bin/hub" buck add --dir "$folder" --force --car "$car" "${at%.car}" >>"$work/hubd-import.log" 2>&1; then
		hubCARs=$((hubCARs + 1))
	else
		echo "  hubd cannot hold $at: $(tail -n 1 "$work/hubd-import.log")" >&2
	fi
done

# run NAME URL SPEC runs SPEC against the gateway at URL and prints
# "pass fail" counted from the JSON report.
run() {
	report=$work/report-$1-$3.json
	(cd "$suite" && GATEWAY_URL=$2 GATEWAY_CONFORMANCE_HOME=$suite \
		go tool test2json -t -p gateway "$bin/conformance.test" -test.v=test2json -specs="$3" >"$report" 2>"$work/run-$1-$3.err") || true
	# Leaf tests only: a parent passes or fails with its subtests.
	jq -rs '[.[] | select(.Test != null and (.Action == "pass" or .Action == "fail" or .Action == "skip"))] as $done
		| ($done | map(.Test)) as $names
		| [$done[] | select(.Test as $t | $names | any(startswith($t + "/")) | not)] as $leaves
		| "\($leaves | map(select(.Action == "pass")) | length) \($leaves | map(select(.Action == "fail")) | length)"' "$report"
}

echo >&2
echo "fixtures loaded: kubo $kuboCARs CARs, hubd $hubCARs CARs"
printf '%-20s %15s %15s\n' spec "hubd pass/fail" "kubo pass/fail"
for spec in $(echo "$specs" | tr , ' '); do
	set -- $(run hubd "http://$hubgw" "$spec") $(run kubo "http://$kubo" "$spec")
	printf '%-20s %15s %15s\n' "$spec" "$1/$2" "$3/$4"
done

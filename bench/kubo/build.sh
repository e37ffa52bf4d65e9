#!/bin/sh
# build.sh builds kubo (the ipfs command) at a pinned version from the Go module
# proxy, for the side-by-side benchmarks in bench/cmd/kubobench.
#
# kubo's go.mod replaces go-libp2p with a fork the proxy does not serve, so the
# script drops that replace and requires the released go-libp2p instead. The
# binary lands in $HUB_BENCH_CACHE/kubo-$KUBO_VERSION/ipfs (default cache:
# bench/.cache, ignored by git) and is reused when present. Any failure stops
# the script with a message; its last line of output is the binary's path.
set -eu

KUBO_VERSION=${KUBO_VERSION:-v0.43.1}
LIBP2P_VERSION=${LIBP2P_VERSION:-v0.51.0}
here=$(cd "$(dirname "$0")" && pwd)
cache=${HUB_BENCH_CACHE:-$here/../.cache}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
out=$cache/kubo-$KUBO_VERSION
bin=$out/ipfs

fail() { echo "bench/kubo/build.sh: $*" >&2; exit 1; }

if [ -x "$bin" ] && "$bin" version --all 2>/dev/null | grep -q "Kubo version: ${KUBO_VERSION#v}"; then
	echo "$bin"
	exit 0
fi

command -v go >/dev/null || fail "go is not on PATH; install Go to build kubo"
command -v jq >/dev/null || fail "jq is not on PATH; install jq (apt-get install jq)"

echo "downloading github.com/ipfs/kubo@$KUBO_VERSION" >&2
info=$(go mod download -json "github.com/ipfs/kubo@$KUBO_VERSION") ||
	fail "go mod download github.com/ipfs/kubo@$KUBO_VERSION failed; check GOPROXY and the network"
dir=$(printf '%s' "$info" | jq -r '.Dir // empty')
[ -n "$dir" ] && [ -d "$dir" ] || fail "no module directory for kubo@$KUBO_VERSION in: $info"

src=$out/src
rm -rf "$src"
mkdir -p "$out"
cp -R "$dir" "$src"
chmod -R u+w "$src"

cd "$src"
# The fork named by the replace is not on the proxy; the release it forks is.
go mod edit -dropreplace github.com/libp2p/go-libp2p
go mod edit -require "github.com/libp2p/go-libp2p@$LIBP2P_VERSION"
grep -q "github.com/libp2p/go-libp2p $LIBP2P_VERSION" go.mod ||
	fail "go.mod does not require go-libp2p $LIBP2P_VERSION after the edit"
echo "building kubo $KUBO_VERSION with go-libp2p $LIBP2P_VERSION (a few minutes)" >&2
GOFLAGS=-mod=mod go build -trimpath -o "$bin" ./cmd/ipfs ||
	fail "go build ./cmd/ipfs failed (see above)"
"$bin" version --all | grep -q "Kubo version: ${KUBO_VERSION#v}" ||
	fail "$bin does not report version $KUBO_VERSION"
echo "$bin"

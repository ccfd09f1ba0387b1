#!/usr/bin/env bash
# Builds bin/nats-server from the nats-server module that kit/go.mod requires
# (github.com/nats-io/nats-server/v2: the server the in-process tests embed),
# unless bin/nats-server already is that version, and prints its path.
#
#   scripts/nats-server.sh        (make bin/nats-server runs it)
#
# The multi-process tests (test/e2e) and scripts/cluster.sh run this binary,
# not the system's: Debian's is too old for natter's stream configuration.
# Only the Go module proxy is used. The build goes to a temporary name in
# bin/ and is renamed into place, so that builds that run at once (several
# test binaries) never leave a half-written file.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
module=github.com/nats-io/nats-server/v2
out=$root/bin/nats-server

want=$(cd "$root/kit" && go list -m -f '{{.Version}}' "$module")
[ -n "$want" ] || { echo "nats-server.sh: kit/go.mod requires no $module" >&2; exit 1; }

# `nats-server --version` prints "nats-server: v2.15.2".
if [ -x "$out" ] && [ "$("$out" --version 2>/dev/null)" = "nats-server: $want" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$root/bin"
tmp=$(mktemp "$root/bin/.nats-server.XXXXXX")
trap 'rm -f "$tmp"' EXIT
echo "nats-server.sh: building nats-server $want into $out" >&2
(cd "$root/kit" && go build -o "$tmp" "$module")
got=$("$tmp" --version)
[ "$got" = "nats-server: $want" ] || { echo "nats-server.sh: built $got, want $want" >&2; exit 1; }
mv -f "$tmp" "$out"
trap - EXIT
echo "$out"

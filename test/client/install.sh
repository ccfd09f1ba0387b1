#!/usr/bin/env bash
# Installs the Node dependencies of the socket.io-client tests (test/client).
#
# Idempotent: runs `npm ci` only when node_modules is missing or older than
# package-lock.json. Needs node and npm; when they are missing and this runs
# as root with CI=true on a Debian-like system, it installs them with apt-get.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

die() {
	echo "test/client/install.sh: $*" >&2
	exit 1
}

have_node() { command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; }

if ! have_node; then
	if [ "${CI:-}" = "true" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
		echo "test/client/install.sh: node/npm missing; installing Debian's nodejs and npm" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q || die "apt-get update failed"
		apt-get install -y -q nodejs npm || die "apt-get install nodejs npm failed"
	fi
	have_node || die "node and npm are required (Node.js >= 18); install them, e.g. 'apt-get install -y nodejs npm'"
fi

major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
[ "$major" -ge 18 ] || die "Node.js >= 18 is required for node:test, found $(node --version 2>/dev/null || echo none)"

[ -f package-lock.json ] || die "package-lock.json is missing in $here"

# Several test processes may call this at once; serialize them where flock exists.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$here/.install.lock"
	flock 9
fi

stamp="node_modules/.natter-installed"
if [ -f "$stamp" ] && [ ! package-lock.json -nt "$stamp" ] && [ -d node_modules/socket.io-client ]; then
	exit 0
fi

echo "test/client/install.sh: npm ci in $here" >&2
npm ci --no-audit --no-fund || die "npm ci failed"
touch "$stamp"

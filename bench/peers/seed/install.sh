#!/usr/bin/env bash
# Installs the seed peer's npm packages (pinned by package-lock.json) into
# bench/peers/seed/node_modules, unless they already match the lock file.
set -euo pipefail
cd "$(dirname "$0")"
command -v npm >/dev/null || { echo "seed: npm is missing (Node.js 18 or later)" >&2; exit 1; }
stamp=node_modules/.lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	exit 0
fi
npm ci --no-audit --no-fund --loglevel=error >&2
echo "$want" >"$stamp"

#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (test/e2e), when missing.
# Needs root and apt-get; elsewhere it says what to install and fails.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
	exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends chromium fonts-noto-cjk
	exit 0
fi
echo "test/install-browser.sh: install Chromium (Debian: apt-get install chromium)" >&2
exit 1

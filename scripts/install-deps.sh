#!/usr/bin/env bash
# Installs, from Debian's packages, what `make cluster-up` and the cluster
# tests (test/e2e/cluster_test.go) run: nginx, redis-server, curl, and
# Prometheus with promtool; and python-socketio, the Python client that
# test/e2e/python_test.go runs (for Debian's /usr/bin/python3). Only what is
# missing is installed. nats-server is
# not among them: Debian's is too old, so scripts/nats-server.sh builds the
# version natter's tests embed into bin/.
#
#   scripts/install-deps.sh              everything above
#   scripts/install-deps.sh nginx curl   only these (names of commands)
#
# Needs root and apt-get; elsewhere it says what to install and fails.
set -euo pipefail

have() {
	case "$1" in
	python-socketio) /usr/bin/python3 -c 'import socketio, websocket, requests' 2>/dev/null ;;
	*) command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] ;;
	esac
}

# command -> Debian packages
package_of() {
	case "$1" in
	nginx) echo nginx ;;
	redis-server) echo redis-server ;;
	redis-cli) echo redis-tools ;;
	curl) echo curl ;;
	prometheus | promtool) echo prometheus ;;
	# The client, its WebSocket transport, its polling transport.
	python-socketio) echo python3-socketio python3-websocket python3-requests ;;
	*) echo "install-deps.sh: unknown command $1" >&2; return 1 ;;
	esac
}

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(nginx redis-server curl prometheus promtool python-socketio)

missing=()
for cmd in "${wanted[@]}"; do
	have "$cmd" && continue
	for pkg in $(package_of "$cmd"); do
		[[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
	done
done
[ ${#missing[@]} -gt 0 ] || exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# Without recommends: no node exporter. Package scripts may not start
	# services (no init in a container); the cluster starts its own anyway.
	apt-get install -y -q --no-install-recommends "${missing[@]}"
	exit 0
fi
echo "scripts/install-deps.sh: install ${missing[*]} (Debian: apt-get install ${missing[*]})" >&2
exit 1

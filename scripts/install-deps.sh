#!/usr/bin/env bash
# Installs, from Debian's packages, what `make cluster-up` and the cluster
# tests (test/e2e/cluster_test.go) run: nginx, redis-server, curl, and
# Prometheus with promtool. Only what is missing is installed. nats-server is
# not among them: Debian's is too old, so scripts/nats-server.sh builds the
# version natter's tests embed into bin/.
#
#   scripts/install-deps.sh              everything above
#   scripts/install-deps.sh nginx curl   only these (names of commands)
#
# Needs root and apt-get; elsewhere it says what to install and fails.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

# command -> Debian package
package_of() {
	case "$1" in
	nginx) echo nginx ;;
	redis-server) echo redis-server ;;
	curl) echo curl ;;
	prometheus | promtool) echo prometheus ;;
	*) echo "install-deps.sh: unknown command $1" >&2; return 1 ;;
	esac
}

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(nginx redis-server curl prometheus promtool)

missing=()
for cmd in "${wanted[@]}"; do
	have "$cmd" && continue
	pkg=$(package_of "$cmd")
	[[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
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

#!/usr/bin/env bash
# Installs helm (v3, the version pinned below) into bin/helm from the Go
# module proxy, unless bin/helm already is that version, and prints its path.
#
#   scripts/install-helm.sh       (make test-deps runs it)
#
# test/e2e/helm_test.go runs bin/helm lint and bin/helm template on
# deploy/helm/natter. The version is read from the binary's build
# information (go version -m), which `go install` always records; helm's own
# `helm version` says less when it is not built by helm's Makefile. The
# build goes to a temporary directory in bin/ and is renamed into place, so
# that installs that run at once never leave a half-written file.
set -euo pipefail

version=v3.19.5
module=helm.sh/helm/v3

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/bin/helm

installed() {
	[ -x "$out" ] && go version -m "$out" 2>/dev/null |
		awk -v m="$module" -v v="$version" '$1 == "mod" && $2 == m && $3 == v { found = 1 } END { exit !found }'
}

if installed; then
	echo "$out"
	exit 0
fi

mkdir -p "$root/bin"
tmp=$(mktemp -d "$root/bin/.helm.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "install-helm.sh: building helm $version into $out" >&2
# Outside the workspace: helm's own go.mod decides its dependencies.
(cd "$tmp" && GOWORK=off GOFLAGS=-mod=mod GOBIN="$tmp" go install "$module/cmd/helm@$version")
mv -f "$tmp/helm" "$out"
installed || { echo "install-helm.sh: $out is not helm $version" >&2; exit 1; }
echo "$out"

# Sourced by scripts/cluster.sh and scripts/bench.sh: what both need to run
# local processes. The caller sets prog (the prefix of its messages) and dir
# (logs in $dir/logs/NAME.log), and defines alive NAME: whether the process
# it started as NAME runs.

# shellcheck source=scripts/nginx-conf.sh
. "$(dirname "${BASH_SOURCE[0]}")/nginx-conf.sh"

die() {
	echo "$prog: $*" >&2
	exit 1
}

# data_dir DIR: makes DIR, kept out of git (it may be a folder of the
# repository), and prints its absolute path.
data_dir() {
	mkdir -p "$1"
	[ -e "$1/.gitignore" ] || echo "*" >"$1/.gitignore"
	(cd "$1" && pwd)
}

# running PID: whether the process runs. One that died but is not reaped
# yet (a zombie: processes are reparented to init) does not.
running() {
	kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# stop_pids PID...: TERM to each, then KILL to those still running 5 s later.
stop_pids() {
	local pid pids=() left
	for pid in "$@"; do kill -TERM "$pid" 2>/dev/null && pids+=("$pid"); done
	for _ in $(seq 1 50); do
		left=()
		for pid in "${pids[@]+"${pids[@]}"}"; do running "$pid" && left+=("$pid"); done
		pids=("${left[@]+"${left[@]}"}")
		[ ${#pids[@]} -gt 0 ] || return 0
		sleep 0.1
	done
	for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

# wait_ready NAME SECONDS FAILURE COMMAND...: runs COMMAND every 0.1 s until
# it succeeds; dies with "NAME FAILURE" after SECONDS, or at once when the
# process NAME has exited.
wait_ready() {
	local name=$1 deadline=$((SECONDS + $2)) failure=$3
	shift 3
	until "$@" 2>/dev/null; do
		alive "$name" || { tail -n 20 "$dir/logs/$name.log" >&2; die "$name exited (log: $dir/logs/$name.log)"; }
		[ $SECONDS -lt $deadline ] || die "$name $failure (log: $dir/logs/$name.log)"
		sleep 0.1
	done
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1"); }

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }

# wait_tcp NAME PORT: waits up to 30 s until NAME listens on PORT of 127.0.0.1.
wait_tcp() { wait_ready "$1" 30 "not listening on $2" tcp_open "$2"; }

# wait_http NAME URL: waits up to 60 s until URL answers 2xx.
wait_http() { wait_ready "$1" 60 "not ready at $2" http_ok "$2"; }

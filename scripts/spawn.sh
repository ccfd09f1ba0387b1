# Sourced by scripts/bench.sh and scripts/profile-fanout.sh, after lib.sh:
# processes started in sessions of their own, their output in
# $dir/logs/NAME.log, and stopped, whatever happens, when the script exits.

# spawn NAME COMMAND...: runs the command in a session of its own, output to
# logs/NAME.log, and records its pid for stop_all.
declare -A pid_of=()
spawn() {
	local name=$1
	shift
	setsid "$@" >>"$dir/logs/$name.log" 2>&1 </dev/null &
	pid_of[$name]=$!
}

# alive NAME: whether the process spawn started as NAME runs.
alive() { running "${pid_of[$1]}"; }

# stop_all stops every process spawn started (TERM, then KILL after 5 s).
stop_all() {
	local name pids=()
	for name in "${!pid_of[@]}"; do pids+=("${pid_of[$name]}"); done
	pid_of=()
	stop_pids "${pids[@]+"${pids[@]}"}"
}
trap stop_all EXIT

pids_csv() {
	local IFS=,
	echo "${pid_of[*]}"
}

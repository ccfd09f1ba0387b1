#!/usr/bin/env bash
# make bench: natter, the seed's stack and a raw Go hub, each started in turn
# on 127.0.0.1 with the same settings and driven by the same generator
# (bench/cmd/natter-bench), then the table with the ratios written into
# docs/benchmarks.md between its markers.
#
#   natter  bin/nats-server (JetStream, deploy/nats/natter.conf, fsync always),
#           redis-server (AOF, as scripts/cluster.sh), history, 2 presence,
#           2 gateways driven directly, clients split over both
#   seed    2 Node processes (bench/peers/seed: express, socket.io 4.8,
#           @socket.io/redis-adapter) sharing a redis-server
#   hub     bench/peers/hub, one process
#
# For each: fan-out to 200 clients of one room, 10 of them sending, first at
# 100 messages/s (after a warm-up at that rate) (20,000 deliveries/s), then a sweep of the rate until a step
# fails (errors, < 99.9 % delivered or p99 ≥ 100 ms); 10,000 idle connections;
# a join storm of 100 rooms of 100 and one of 2,000 in one room, each followed
# by all leaving at once. natter's fan-out also runs with 200 polling
# clients, direct and through nginx (when installed).
#
# Settings (environment):
#   BENCH_QUICK=1   a smoke of about two minutes: short steps, small storms
#   BENCH_DIR       logs, data and results (default ./data/bench)
#   BENCH_DOC       the file whose section is rewritten (default docs/benchmarks.md;
#                   BENCH_DOC= writes none)
#   BENCH_ONLY      the systems to run, of "natter seed hub" (default all)
#   BENCH_PARTS     what to run of each, of "fanout storms idle" (default
#                   "fanout storms"; storms include the idle connections, idle
#                   alone runs only them)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
prog=bench
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
dir=$(data_dir "${BENCH_DIR:-$root/data/bench}")
doc=${BENCH_DOC-$root/docs/benchmarks.md}
only=${BENCH_ONLY:-natter seed hub}
parts=${BENCH_PARTS:-fanout storms}
for part in $parts; do
	case $part in
	fanout | storms | idle) ;;
	*) die "BENCH_PARTS: $part is none of fanout storms idle" ;;
	esac
done
# part NAME: whether BENCH_PARTS has NAME.
part() { [[ " $parts " == *" $1 "* ]]; }
quick=${BENCH_QUICK:-0}
results=$dir/results.jsonl
bin=$root/bin

if [ "$quick" = "1" ]; then
	step=2s warmup=1s drain=2s sweep_from=50 sweep_factor=2 bisect=0
	storm_rooms=10 storm_per=50 big_room=200 idle_conns=1000 hold=5s
else
	step=5s warmup=3s drain=3s sweep_from=25 sweep_factor=2 bisect=2
	storm_rooms=100 storm_per=100 big_room=2000 idle_conns=10000 hold=30s
fi
clients=200 senders=10 fixed_rate=100 sweep_max=8000
# Lifted for the load test's senders only by configuration (proto/README.md: 10/s, bursts of 20).
message_rate=1000000
# shellcheck source=scripts/spawn.sh
. "$root/scripts/spawn.sh"

# measure TARGET ARGS...: one run of the generator, its lines added to the
# results; a run that fails is reported and the others go on.
measure() {
	local target=$1
	shift
	echo "bench: $target: natter-bench $*" >&2
	if ! "$bin/natter-bench" -target "$target" -sources 8 "$@" | tee -a "$results"; then
		echo "bench: $target: the run failed (above)" >&2
	fi
}

# fanout TARGET URLS [ARGS...]: the fixed rate, then the sweep.
fanout() {
	local target=$1 urls=$2
	shift 2
	part fanout || return 0
	measure "$target" -scenario fanout -url "$urls" -pids "$(pids_csv)" -clients $clients -senders $senders \
		-rate $fixed_rate -sweep -sweep-from $sweep_from -sweep-factor $sweep_factor -sweep-max $sweep_max \
		-bisect $bisect -step $step -warmup $warmup -drain $drain "$@"
}

# storms TARGET URLS: the idle connections (first, while the heaps have not
# grown for the storms), then the join storms. The room of 2,000 has more
# time: its 2 to 4 million join notices are read by the one generator.
storms() {
	local target=$1 urls=$2
	part storms || part idle || return 0
	measure "$target" -scenario idle -url "$urls" -pids "$(pids_csv)" -conns $idle_conns -hold $hold
	part storms || return 0
	measure "$target" -scenario joinstorm -url "$urls" -pids "$(pids_csv)" -rooms $storm_rooms -per-room $storm_per -leave
	measure "$target" -scenario joinstorm -url "$urls" -pids "$(pids_csv)" -rooms 1 -per-room $big_room -leave -timeout 60s
}

start_redis() {
	local port=$1
	mkdir -p "$dir/data/redis"
	spawn redis "$(command -v redis-server || echo /usr/sbin/redis-server)" --bind 127.0.0.1 --port "$port" \
		--dir "$dir/data/redis" --appendonly yes --save ""
	wait_tcp redis "$port"
}

bench_natter() {
	local nats p
	nats=$(bash "$root/scripts/nats-server.sh")
	read -r -a p <<<"$("$bin/natter-bench" ports 8 | tr '\n' ' ')"
	local nats_url=nats://127.0.0.1:${p[0]} redis_url=redis://127.0.0.1:${p[1]}
	spawn nats env NATTER_NATS_SYNC_INTERVAL=always "$nats" -c "$root/deploy/nats/natter.conf" \
		-a 127.0.0.1 -p "${p[0]}" -js -sd "$dir/data/nats"
	start_redis "${p[1]}"
	wait_tcp nats "${p[0]}"
	spawn history env NATS_URL="$nats_url" NATTER_HTTP_ADDR="127.0.0.1:${p[2]}" "$bin/history"
	spawn presence1 env NATS_URL="$nats_url" REDIS_URL="$redis_url" NATTER_HTTP_ADDR="127.0.0.1:${p[3]}" "$bin/presence"
	spawn presence2 env NATS_URL="$nats_url" REDIS_URL="$redis_url" NATTER_HTTP_ADDR="127.0.0.1:${p[4]}" "$bin/presence"
	local i port urls=""
	for i in 1 2; do
		port=${p[$((4 + i))]}
		spawn gateway$i env NATS_URL="$nats_url" NATTER_HTTP_ADDR="127.0.0.1:$port" NATTER_ADVERTISE_ADDR="127.0.0.1:$port" \
			NATTER_GATEWAY_ID="gateway$i" NATTER_MESSAGE_RATE=$message_rate NATTER_MESSAGE_BURST=$message_rate "$bin/gateway"
		urls+=${urls:+,}http://127.0.0.1:$port
	done
	wait_http history "http://127.0.0.1:${p[2]}/readyz"
	wait_http presence1 "http://127.0.0.1:${p[3]}/readyz"
	wait_http presence2 "http://127.0.0.1:${p[4]}/readyz"
	wait_http gateway1 "http://127.0.0.1:${p[5]}/readyz"
	wait_http gateway2 "http://127.0.0.1:${p[6]}/readyz"
	echo "bench: natter up: $("$nats" --version), sync_interval always, gateways $urls" >&2

	fanout natter "$urls"
	fanout natter-polling "$urls" -transport polling
	local nginx
	if ! part fanout; then
		: # no polling run through nginx either
	elif nginx=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null); then
		start_nginx "$nginx" "${p[7]}" "127.0.0.1:${p[5]}" "127.0.0.1:${p[6]}"
		local natter_pids
		natter_pids=$(pids_csv)
		fanout natter-polling-nginx "http://127.0.0.1:${p[7]}" -transport polling \
			-pids "$natter_pids,$(pgrep -d, -P "${pid_of[nginx]}")"
		kill -TERM "${pid_of[nginx]}" 2>/dev/null || true
		unset 'pid_of[nginx]'
	else
		echo "bench: no nginx: the polling run through nginx is skipped" >&2
	fi
	storms natter "$urls"
}

# start_nginx NGINX PORT GATEWAY1 GATEWAY2: nginx from the shared template
# (deploy/nginx/natter.conf.template), its four upstreams being the two
# gateways twice, run as scripts/cluster.sh runs it.
start_nginx() {
	local nginx=$1 port=$2 g1=$3 g2=$4 conf=$dir/nginx
	render_nginx_conf "$dir" "$root" "127.0.0.1:$port" "$g1" "$g2" "$g1" "$g2" || die "nginx configuration"
	"$nginx" -t -q -p "$conf" -c "$conf/nginx.conf" -e "$dir/logs/nginx.log" || die "nginx -t failed"
	spawn nginx "$nginx" -p "$conf" -c "$conf/nginx.conf" -e "$dir/logs/nginx.log"
	wait_tcp nginx "$port"
	for _ in $(seq 1 50); do
		[ -n "$(pgrep -P "${pid_of[nginx]}")" ] && return 0
		sleep 0.1
	done
	die "nginx has no workers"
}

bench_seed() {
	bash "$root/bench/peers/seed/install.sh"
	local p
	read -r -a p <<<"$("$bin/natter-bench" ports 3 | tr '\n' ' ')"
	start_redis "${p[0]}"
	spawn seed1 env PORT="${p[1]}" REDIS_URL="redis://127.0.0.1:${p[0]}" node "$root/bench/peers/seed/server.js"
	spawn seed2 env PORT="${p[2]}" REDIS_URL="redis://127.0.0.1:${p[0]}" node "$root/bench/peers/seed/server.js"
	wait_http seed1 "http://127.0.0.1:${p[1]}/readyz"
	wait_http seed2 "http://127.0.0.1:${p[2]}/readyz"
	local urls=http://127.0.0.1:${p[1]},http://127.0.0.1:${p[2]}
	echo "bench: seed up: node $(node --version), socket.io $(node -p 'require(process.argv[1]).version' "$root/bench/peers/seed/node_modules/socket.io/package.json"), $urls" >&2
	fanout seed "$urls"
	storms seed "$urls"
}

bench_hub() {
	local port
	port=$("$bin/natter-bench" ports 1)
	spawn hub "$bin/bench-hub" -addr "127.0.0.1:$port"
	wait_http hub "http://127.0.0.1:$port/readyz"
	fanout hub "http://127.0.0.1:$port"
	storms hub "http://127.0.0.1:$port"
}

command -v curl >/dev/null || die "curl is missing"
command -v redis-server >/dev/null || [ -x /usr/sbin/redis-server ] || die "redis-server is missing (scripts/install-deps.sh)"
ulimit -n "$(ulimit -Hn)"
echo "bench: building" >&2
(cd "$root" && make -s build && go build -o "$bin/natter-bench" ./bench/cmd/natter-bench && go build -o "$bin/bench-hub" ./bench/peers/hub)

: >"$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%s)
for system in $only; do
	rm -rf "$dir/logs" "$dir/data" "$dir/nginx"
	mkdir -p "$dir/logs" "$dir/data"
	case $system in
	natter) bench_natter ;;
	seed) bench_seed ;;
	hub) bench_hub ;;
	*) die "BENCH_ONLY: $system is none of natter seed hub" ;;
	esac
	stop_all
	# Keep the logs of each system.
	rm -rf "$dir/logs-$system"
	mv "$dir/logs" "$dir/logs-$system"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
took=$(($(date -u +%s) - started))
echo "bench: done in ${took}s; results in $results" >&2

if [ -n "$doc" ]; then
	cmd="make bench"
	[ "$quick" != "1" ] || cmd="BENCH_QUICK=1 make bench"
	note="$(nproc) cores; load average $load_before before and $load_after after the run (${took} s)."
	note+=" The machine may be shared: compare the systems of one run, not runs."
	"$bin/natter-bench" report -doc "$doc" -cmd "$cmd" -note "$note" "$results"
	echo "bench: wrote the table into $doc" >&2
fi

#!/usr/bin/env bash
# The docker compose topology (deploy/compose/docker-compose.yml) as local
# processes on 127.0.0.1, for a machine without Docker:
#
#   3 nats-server -js in a cluster (bin/nats-server, built by
#   scripts/nats-server.sh, with deploy/nats/natter.conf; routes between them,
#   JetStream on each, natter's stream and buckets in 3 copies),
#   Redis with Sentinel (a primary with AOF, a replica, 3 sentinels, which
#   presence connects through), 4 gateways, 2 presence, 1 history,
#   nginx from deploy/nginx/natter.conf.template, and with PROMETHEUS=1 a
#   Prometheus from deploy/prometheus/prometheus.yml.
#
#   scripts/cluster.sh up      start it, wait until every service is ready, print the URL
#   scripts/cluster.sh down    stop everything it started
#   scripts/cluster.sh status  what runs
#   scripts/cluster.sh start NAME
#                              start again one process that stopped or was killed
#                              (gateway2, presence1, history, nats2, redis, redis-replica,
#                              sentinel1, nginx, ...),
#                              as up started it, and wait until it is ready
#
# Settings (environment):
#   NATTER_HTTP_ADDR          where nginx listens (default 127.0.0.1:8080)
#   NATTER_CLUSTER_DIR        pids, logs, data, rendered configs (default ./data/cluster)
#   NATTER_BIN                a folder with built gateway, presence, history
#                             (default: built into $NATTER_CLUSTER_DIR/bin)
#   NATTER_NATS_SYNC_INTERVAL when JetStream fsyncs: always (the default, as in
#                             compose) or an interval such as 1s
#                             (deploy/nats/natter.conf, docs/design.md)
#   NATTER_CONNS_PER_ADDR     requests one client address may hold open through
#                             nginx (default 512; scripts/nginx-conf.sh)
#   PROMETHEUS=1              also run Prometheus, on NATTER_CLUSTER_PROMETHEUS_PORT
#   NATTER_JETSTREAM_REPLICAS copies of the stream and buckets (default 3, one
#                             on each NATS node)
#   NATTER_REDIS_DOWN_AFTER   how long the sentinels wait on a silent Redis primary
#                             before they promote its replica (default 5000 ms)
#   NATTER_CLUSTER_NATS_PORTS (three: the clients'), NATTER_CLUSTER_NATS_ROUTE_PORTS
#   (three: the routes between the NATS nodes), NATTER_CLUSTER_NATS_MONITOR_PORTS
#   (three: monitoring, /healthz, /jsz), NATTER_CLUSTER_REDIS_PORT (the primary's),
#   NATTER_CLUSTER_REPLICA_PORT (default one above), NATTER_CLUSTER_SENTINEL_PORTS
#   (three), NATTER_CLUSTER_HISTORY_PORT, NATTER_CLUSTER_GATEWAY_PORTS (four),
#   NATTER_CLUSTER_PRESENCE_PORTS (two), NATTER_CLUSTER_PROMETHEUS_PORT
#                             ports; the defaults stay clear of the standard ones
#                             (4222, 6379, 9090) so a cluster can run beside them.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
prog=cluster
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
dir=$(data_dir "${NATTER_CLUSTER_DIR:-$root/data/cluster}")

# The topology. TestComposeMatchesTopology checks the compose file against
# these lines.
NATS_NODES=3
GATEWAYS=4
PRESENCES=2
HISTORIES=1

listen=${NATTER_HTTP_ADDR:-127.0.0.1:8080}
# The same default as the compose file's (TestNATSSyncSetting checks).
sync_interval=${NATTER_NATS_SYNC_INTERVAL:-always}
read -r -a nats_ports <<<"${NATTER_CLUSTER_NATS_PORTS:-14222 14223 14224}"
read -r -a nats_route_ports <<<"${NATTER_CLUSTER_NATS_ROUTE_PORTS:-14252 14253 14254}"
read -r -a nats_monitor_ports <<<"${NATTER_CLUSTER_NATS_MONITOR_PORTS:-14282 14283 14284}"
replicas=${NATTER_JETSTREAM_REPLICAS:-$NATS_NODES}
redis_port=${NATTER_CLUSTER_REDIS_PORT:-16379}
replica_port=${NATTER_CLUSTER_REPLICA_PORT:-$((redis_port + 1))}
read -r -a sentinel_ports <<<"${NATTER_CLUSTER_SENTINEL_PORTS:-16391 16392 16393}"
redis_master=natter # NATTER_REDIS_MASTER, as in compose
down_after=${NATTER_REDIS_DOWN_AFTER:-5000}
history_port=${NATTER_CLUSTER_HISTORY_PORT:-18090}
read -r -a gateway_ports <<<"${NATTER_CLUSTER_GATEWAY_PORTS:-18081 18082 18083 18084}"
read -r -a presence_ports <<<"${NATTER_CLUSTER_PRESENCE_PORTS:-18091 18092}"
prometheus_port=${NATTER_CLUSTER_PROMETHEUS_PORT:-19090}

# server finds a server program on PATH or in /usr/sbin.
server() {
	if command -v "$1" >/dev/null 2>&1; then
		command -v "$1"
	elif [ -x "/usr/sbin/$1" ]; then
		echo "/usr/sbin/$1"
	else
		return 1
	fi
}

# need returns the path of a server program, installing its package when missing.
need() {
	server "$1" && return 0
	echo "cluster: $1 is missing; installing it" >&2
	bash "$root/scripts/install-deps.sh" "$1" >&2 || die "cannot install $1"
	server "$1" || die "$1 still missing"
}

# alive NAME: whether the process up started as NAME runs.
alive() { [ -f "$dir/pids/$1.pid" ] && running "$(cat "$dir/pids/$1.pid")"; }

# spawn NAME COMMAND...: runs the command in a session of its own, output to
# logs/NAME.log, and records its pid (setsid execs, so the pid is the command's)
# and the command, for start.
spawn() {
	local name=$1
	shift
	printf '%q ' "$@" >"$dir/cmds/$name"
	setsid "$@" >>"$dir/logs/$name.log" 2>&1 </dev/null &
	echo $! >"$dir/pids/$name.pid"
}

# ready NAME: waits until the process NAME that up started serves.
ready() {
	local name=$1 url
	case $name in
	# /healthz: 200 once JetStream is current (a meta leader is known, and
	# a node started again has caught up with the others).
	nats[1-9]) wait_http "$name" "http://127.0.0.1:${nats_monitor_ports[${name#nats} - 1]}/healthz" ;;
	redis) wait_tcp redis "$redis_port" ;;
	redis-replica) wait_tcp redis-replica "$replica_port" ;;
	sentinel[1-3]) wait_tcp "$name" "${sentinel_ports[$((${name#sentinel} - 1))]}" ;;
	nginx) wait_http nginx "http://$listen/" ;;
	prometheus) wait_http prometheus "http://127.0.0.1:$prometheus_port/-/ready" ;;
	*)
		url=$(sed -n "s|^$name=||p" "$dir/cluster.env")
		[ -n "$url" ] || die "no address for $name in $dir/cluster.env"
		wait_http "$name" "$url/readyz"
		;;
	esac
}

# start NAME: starts again, with the command up gave it, a process of the
# cluster that stopped or was killed (a fault test, say).
start_one() {
	local name=${1:-}
	[ -d "$dir/pids" ] && [ -d "$dir/cmds" ] || die "not up ($dir); run: make cluster-up"
	[ -n "$name" ] && [ -f "$dir/cmds/$name" ] ||
		die "start what? one of: $(cd "$dir/cmds" && echo *)"
	alive "$name" && die "$name is running (pid $(cat "$dir/pids/$name.pid"))"
	local cmd
	cmd=$(cat "$dir/cmds/$name")
	case $name in
	redis | redis-replica) cmd="$cmd $(replica_of "$name")" ;;
	esac
	eval "spawn \"\$name\" $cmd"
	ready "$name"
	echo "cluster: $name up (pid $(cat "$dir/pids/$name.pid"))"
}

# render_nginx writes the nginx configuration (scripts/nginx-conf.sh) with
# local ports.
render_nginx() {
	render_nginx_conf "$dir" "$root" "$listen" "127.0.0.1:${gateway_ports[0]}" "127.0.0.1:${gateway_ports[1]}" \
		"127.0.0.1:${gateway_ports[2]}" "127.0.0.1:${gateway_ports[3]}" || die "nginx configuration"
}

# render_prometheus rewrites the compose Prometheus configuration's targets
# (service:port inside the compose network) to the local ports, and puts the
# alert rules it loads beside it.
render_prometheus() {
	local args=() i
	for i in $(seq 1 $GATEWAYS); do args+=(-e "s|gateway$i:8080|127.0.0.1:${gateway_ports[$((i - 1))]}|g"); done
	for i in $(seq 1 $PRESENCES); do args+=(-e "s|presence$i:8081|127.0.0.1:${presence_ports[$((i - 1))]}|g"); done
	args+=(-e "s|history:8082|127.0.0.1:$history_port|g" -e "s|localhost:9090|127.0.0.1:$prometheus_port|g")
	# No exporters run here (compose's prometheus-nats-exporter and
	# redis_exporter): their jobs are left out.
	args+=(-e '/^  - job_name: \(nats\|redis\)$/,/^      - targets:/d')
	sed "${args[@]}" "$root/deploy/prometheus/prometheus.yml" >"$dir/prometheus.yml"
	# prometheus.yml loads its rule_files from beside it.
	cp "$root/deploy/prometheus/alerts.yml" "$dir/alerts.yml"
}

# spawn_redis starts the Redis primary, its replica and the three sentinels
# that watch them (each sentinel rewrites its file, kept under redis/), and
# waits until each sentinel knows the replica and the others: before that
# it could not fail over. After a failover the replica is the primary, and
# a start of the old one joins as the replica that the sentinels make it.
spawn_redis() {
	local redis=$1 cli=$2 i conf port
	mkdir -p "$dir/redis/primary" "$dir/redis/replica"
	spawn redis "$redis" --bind 127.0.0.1 --port "$redis_port" --dir "$dir/redis/primary" --appendonly yes --save ""
	spawn redis-replica "$redis" --bind 127.0.0.1 --port "$replica_port" --dir "$dir/redis/replica" --appendonly yes --save "" \
		--replicaof 127.0.0.1 "$redis_port"
	ready redis
	# A sentinel learns of the replica from the primary's INFO, asked at
	# once and then every 10 s: the replica first.
	wait_ready redis-replica 30 "not replicating" replicating "$cli"
	for i in 1 2 3; do
		conf=$dir/redis/sentinel$i.conf
		printf 'sentinel monitor %s 127.0.0.1 %s 2\nsentinel down-after-milliseconds %s %s\nsentinel failover-timeout %s %s\n' \
			"$redis_master" "$redis_port" "$redis_master" "$down_after" "$redis_master" $((down_after * 4)) >"$conf"
		spawn "sentinel$i" "$redis" "$conf" --sentinel --bind 127.0.0.1 --port "${sentinel_ports[$((i - 1))]}" --dir "$dir/redis"
	done
	for i in 1 2 3; do
		port=${sentinel_ports[$((i - 1))]}
		wait_ready "sentinel$i" 30 "does not know the replica and the other sentinels" sentinel_knows "$cli" "$port"
	done
}

# replica_of NAME: the arguments that make the Redis server NAME, started
# again, a replica of the primary that the sentinels name now, when that is
# the other server (after a failover): at once, rather than when a sentinel
# notices it and converts it. Nothing when no sentinel answers.
replica_of() {
	local own=$redis_port cli port addr
	[ "$1" = redis ] || own=$replica_port
	cli=$(server redis-cli) || return 0
	for port in "${sentinel_ports[@]}"; do
		addr=$("$cli" -p "$port" sentinel get-master-addr-by-name "$redis_master" 2>/dev/null | tr '\n' ' ') || continue
		read -r -a addr <<<"$addr"
		[ ${#addr[@]} -eq 2 ] || continue
		[ "${addr[1]}" = "$own" ] || printf -- '--replicaof %q %q' "${addr[0]}" "${addr[1]}"
		return 0
	done
}

# replicating CLI: whether the replica's link to the primary is up.
replicating() { "$1" -p "$replica_port" info replication | grep -q '^master_link_status:up'; }

# sentinel_knows CLI PORT: whether the sentinel on PORT knows the replica and
# the two other sentinels.
sentinel_knows() {
	"$1" -p "$2" sentinel replicas "$redis_master" | grep -q '^name$' &&
		[ "$("$1" -p "$2" sentinel sentinels "$redis_master" | grep -c '^name$')" -eq 2 ]
}

up() {
	[ ${#gateway_ports[@]} -eq $GATEWAYS ] || die "NATTER_CLUSTER_GATEWAY_PORTS needs $GATEWAYS ports"
	[ ${#presence_ports[@]} -eq $PRESENCES ] || die "NATTER_CLUSTER_PRESENCE_PORTS needs $PRESENCES ports"
	[ ${#nats_ports[@]} -eq $NATS_NODES ] || die "NATTER_CLUSTER_NATS_PORTS needs $NATS_NODES ports"
	[ ${#nats_route_ports[@]} -eq $NATS_NODES ] || die "NATTER_CLUSTER_NATS_ROUTE_PORTS needs $NATS_NODES ports"
	[ ${#nats_monitor_ports[@]} -eq $NATS_NODES ] || die "NATTER_CLUSTER_NATS_MONITOR_PORTS needs $NATS_NODES ports"
	[ ${#sentinel_ports[@]} -eq 3 ] || die "NATTER_CLUSTER_SENTINEL_PORTS needs 3 ports"
	for f in "$dir"/pids/*.pid; do
		[ -e "$f" ] || continue
		alive "$(basename "$f" .pid)" && die "already up ($dir); run: make cluster-down"
	done
	command -v curl >/dev/null 2>&1 || bash "$root/scripts/install-deps.sh" curl >&2 || die "curl missing"
	local nats redis redis_cli nginx prometheus="" bin i
	# Not the system's nats-server, which may be too old: the version the
	# in-process tests embed, built into bin/ when missing.
	nats=$(bash "$root/scripts/nats-server.sh") || die "cannot build nats-server"
	redis=$(need redis-server)
	redis_cli=$(need redis-cli)
	nginx=$(need nginx)
	[ "${PROMETHEUS:-}" != "1" ] || prometheus=$(need prometheus)

	rm -rf "$dir/pids" "$dir/logs" "$dir/cmds"
	mkdir -p "$dir/pids" "$dir/logs" "$dir/cmds" "$dir/nats" "$dir/redis"
	if [ -n "${NATTER_BIN:-}" ]; then
		bin=$NATTER_BIN
	else
		bin=$dir/bin
		echo "cluster: building the services into $bin"
		(cd "$root" && go build -o "$bin/" ./services/gateway/cmd/gateway ./services/presence/cmd/presence ./services/history/cmd/history)
	fi
	render_nginx
	"$nginx" -t -q -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/logs/nginx.log" || die "nginx -t failed"
	[ -z "$prometheus" ] || render_prometheus

	# The services get every NATS node (NATS_URL, comma-separated) and
	# reconnect to one that answers when theirs goes.
	local nats_url="" routes="" redis_url=redis://127.0.0.1:$redis_port sentinels
	for i in $(seq 1 $NATS_NODES); do
		nats_url+=${nats_url:+,}nats://127.0.0.1:${nats_ports[$((i - 1))]}
		routes+=${routes:+,}nats://127.0.0.1:${nats_route_ports[$((i - 1))]}
	done
	sentinels=$(printf '127.0.0.1:%s,' "${sentinel_ports[@]}")
	sentinels=${sentinels%,}
	{
		echo "NATTER_URL=http://$listen"
		echo "NATS_URL=$nats_url"
		echo "REDIS_URL=$redis_url" # the primary when up started; the sentinels name the current one
		echo "NATTER_REDIS_SENTINELS=$sentinels"
		echo "NATTER_REDIS_MASTER=$redis_master"
	} >"$dir/cluster.env"

	# The same configuration file as compose's; what differs per node (its
	# name, ports, store folder, the routes) is on the command line, as in
	# compose. Each node is given every route, its own too (which it skips).
	for i in $(seq 1 $NATS_NODES); do
		mkdir -p "$dir/nats/nats$i"
		spawn "nats$i" env NATTER_NATS_SYNC_INTERVAL="$sync_interval" "$nats" -c "$root/deploy/nats/natter.conf" \
			-a 127.0.0.1 -p "${nats_ports[$((i - 1))]}" -m "${nats_monitor_ports[$((i - 1))]}" -js -sd "$dir/nats/nats$i" --server_name "nats$i" \
			--cluster_name natter --cluster "nats://127.0.0.1:${nats_route_ports[$((i - 1))]}" --routes "$routes"
		{
			echo "nats$i=nats://127.0.0.1:${nats_ports[$((i - 1))]}"
			echo "nats${i}_monitor=http://127.0.0.1:${nats_monitor_ports[$((i - 1))]}"
		} >>"$dir/cluster.env"
	done
	echo "cluster: $NATS_NODES nodes of $("$nats" --version), sync_interval $sync_interval, $replicas replicas"
	spawn_redis "$redis" "$redis_cli"
	for i in $(seq 1 $NATS_NODES); do ready "nats$i"; done

	local name port
	spawn history env NATS_URL="$nats_url" NATTER_HTTP_ADDR="127.0.0.1:$history_port" \
		NATTER_JETSTREAM_REPLICAS="$replicas" "$bin/history"
	echo "history=http://127.0.0.1:$history_port" >>"$dir/cluster.env"
	for i in $(seq 1 $PRESENCES); do
		name=presence$i port=${presence_ports[$((i - 1))]}
		spawn "$name" env NATS_URL="$nats_url" NATTER_REDIS_SENTINELS="$sentinels" NATTER_REDIS_MASTER="$redis_master" \
			NATTER_HTTP_ADDR="127.0.0.1:$port" "$bin/presence"
		echo "$name=http://127.0.0.1:$port" >>"$dir/cluster.env"
	done
	for i in $(seq 1 $GATEWAYS); do
		name=gateway$i port=${gateway_ports[$((i - 1))]}
		spawn "$name" env NATS_URL="$nats_url" NATTER_HTTP_ADDR="127.0.0.1:$port" NATTER_ADVERTISE_ADDR="127.0.0.1:$port" \
			NATTER_GATEWAY_ID="$name" "$bin/gateway"
		echo "$name=http://127.0.0.1:$port" >>"$dir/cluster.env"
	done
	wait_http history "http://127.0.0.1:$history_port/readyz"
	for i in $(seq 1 $PRESENCES); do wait_http "presence$i" "http://127.0.0.1:${presence_ports[$((i - 1))]}/readyz"; done
	for i in $(seq 1 $GATEWAYS); do wait_http "gateway$i" "http://127.0.0.1:${gateway_ports[$((i - 1))]}/readyz"; done

	spawn nginx "$nginx" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/logs/nginx.log"
	wait_http nginx "http://$listen/"
	if [ -n "$prometheus" ]; then
		spawn prometheus "$prometheus" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/prometheus" \
			--web.listen-address="127.0.0.1:$prometheus_port"
		wait_http prometheus "http://127.0.0.1:$prometheus_port/-/ready"
		echo "prometheus=http://127.0.0.1:$prometheus_port" >>"$dir/cluster.env"
		echo "cluster: Prometheus at http://127.0.0.1:$prometheus_port"
	fi
	echo "cluster: logs and pids in $dir"
	echo "natter is up: http://$listen"
}

# down stops every process up started, in stages so that nothing is sent to
# a stopped service: nginx and Prometheus, then the gateways (they tell their
# clients to reconnect), then presence and history, then Redis (with its
# sentinels, lest they fail over while the servers stop) and NATS. Each
# stage gets TERM, then KILL after 5 s.
down() {
	[ -d "$dir/pids" ] || { echo "cluster: nothing to stop in $dir"; return 0; }
	local stage name f pids
	for stage in "nginx prometheus" "gateway1 gateway2 gateway3 gateway4" "presence1 presence2 history" "sentinel1 sentinel2 sentinel3 redis redis-replica nats1 nats2 nats3"; do
		pids=()
		for name in $stage; do
			f=$dir/pids/$name.pid
			[ -f "$f" ] || continue
			pids+=("$(cat "$f")")
			rm -f "$f"
		done
		stop_pids "${pids[@]+"${pids[@]}"}"
	done
	echo "cluster: down"
}

status() {
	local f name
	for f in "$dir"/pids/*.pid; do
		[ -e "$f" ] || { echo "cluster: not running ($dir)"; return 0; }
		name=$(basename "$f" .pid)
		if alive "$name"; then echo "$name up (pid $(cat "$f"))"; else echo "$name DOWN"; fi
	done
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
start) start_one "${2:-}" ;;
*) die "usage: $0 up|down|status|start NAME" ;;
esac

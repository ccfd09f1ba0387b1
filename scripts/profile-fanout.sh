#!/usr/bin/env bash
# Where natter's CPU goes at one fan-out rate: the stack as make bench runs
# it (scripts/bench.sh: NATS with fsync always, Redis, history, 2 presence,
# 2 gateways), every service with NATTER_PPROF=1 and nats-server with its
# profiling port, driven by natter-bench at RATE messages/s to 200 members of
# one room (10 senders) for 16 s. Over 8 s of it, each process's CPU from
# /proc (100 % = one core) and a CPU profile of gateway1, nats-server and
# history, written to DIR:
#
#   bash scripts/profile-fanout.sh [RATE] [DIR]       # default 100 and data/profile
#   go tool pprof -top bin/gateway DIR/gateway1.pprof
#
# Loopback only; it stops what it started, whatever happens.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
prog=profile-fanout
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
rate=${1:-100}
dir=$(data_dir "${2:-$root/data/profile}")
bin=$root/bin
rm -rf "$dir/data" "$dir/logs"
mkdir -p "$dir/data/nats" "$dir/data/redis" "$dir/logs"
[ -x "$bin/natter-bench" ] && [ -x "$bin/gateway" ] || die "build first: make build (bin/gateway, bin/natter-bench)"
nats=$(bash "$root/scripts/nats-server.sh")

# shellcheck source=scripts/spawn.sh
. "$root/scripts/spawn.sh"

read -r -a p <<<"$("$bin/natter-bench" ports 9 | tr '\n' ' ')"
nats_url=nats://127.0.0.1:${p[0]}
spawn nats env NATTER_NATS_SYNC_INTERVAL=always "$nats" -c "$root/deploy/nats/natter.conf" \
	-a 127.0.0.1 -p "${p[0]}" -js -sd "$dir/data/nats" --profile "${p[8]}"
spawn redis "$(command -v redis-server || echo /usr/sbin/redis-server)" --bind 127.0.0.1 --port "${p[1]}" \
	--dir "$dir/data/redis" --appendonly yes --save ""
wait_tcp nats "${p[0]}"
wait_tcp redis "${p[1]}"
spawn history env NATTER_PPROF=1 NATS_URL="$nats_url" NATTER_HTTP_ADDR="127.0.0.1:${p[2]}" "$bin/history"
for i in 1 2; do
	spawn presence$i env NATTER_PPROF=1 NATS_URL="$nats_url" REDIS_URL="redis://127.0.0.1:${p[1]}" \
		NATTER_HTTP_ADDR="127.0.0.1:${p[$((2 + i))]}" "$bin/presence"
done
urls=""
for i in 1 2; do
	port=${p[$((4 + i))]}
	spawn gateway$i env NATTER_PPROF=1 NATS_URL="$nats_url" NATTER_HTTP_ADDR="127.0.0.1:$port" \
		NATTER_ADVERTISE_ADDR="127.0.0.1:$port" NATTER_GATEWAY_ID="gateway$i" \
		NATTER_MESSAGE_RATE=1000000 NATTER_MESSAGE_BURST=1000000 "$bin/gateway"
	urls+=${urls:+,}http://127.0.0.1:$port
done
wait_http history "http://127.0.0.1:${p[2]}/readyz"
for i in 1 2; do
	wait_http presence$i "http://127.0.0.1:${p[$((2 + i))]}/readyz"
	wait_http gateway$i "http://127.0.0.1:${p[$((4 + i))]}/readyz"
done

names=(nats redis history presence1 presence2 gateway1 gateway2)
pids=()
for name in "${names[@]}"; do pids+=("${pid_of[$name]}"); done
ticks() { for pid in "${pids[@]}"; do awk '{print $14 + $15}' "/proc/$pid/stat"; done; }

"$bin/natter-bench" -scenario fanout -url "$urls" -pids "$(IFS=,; echo "${pids[*]}")" -clients 200 -senders 10 \
	-rate "$rate" -step 16s -warmup 3s -drain 3s -sources 8 >"$dir/bench.json" &
bench=$!
sleep 6
read -r -a before <<<"$(ticks | tr '\n' ' ')"
t0=$(date +%s%N)
profiles=()
for target in "gateway1 ${p[5]}" "nats ${p[8]}" "history ${p[2]}"; do
	read -r name port <<<"$target"
	curl -fsS -o "$dir/$name.pprof" "http://127.0.0.1:$port/debug/pprof/profile?seconds=8" &
	profiles+=($!)
done
sleep 8
read -r -a after <<<"$(ticks | tr '\n' ' ')"
t1=$(date +%s%N)
wait "${profiles[@]}" "$bench"
hz=$(getconf CLK_TCK)
{
	echo "CPU over 8 s at $rate messages/s to 200 members (100 % = one core):"
	for i in "${!names[@]}"; do
		awk -v n="${names[$i]}" -v d=$((after[i] - before[i])) -v hz="$hz" -v ns=$((t1 - t0)) \
			'BEGIN { printf "  %-10s %5.1f %%\n", n, d * 100 / hz / (ns / 1e9) }'
	done
	echo "the run: $(cat "$dir/bench.json")"
} | tee "$dir/cpu.txt"

#!/usr/bin/env bash
# Runs bench-remote against workers on "separate hosts" of one machine: each source's worker in a network namespace of
# its own, reached over a veth pair, with a delay on every packet (tc netem), as in the paper's Section 2.4 (one GPU
# node per source, the master exchanging texts and scores). Needs root (ip netns, ip link, tc) and a built checkout.
# Cleans up (workers, namespaces, veth pairs) on exit, also on Ctrl-C or failure.
#
#   sudo scripts/netns-bench.sh [--config models/fusion.yaml] [--sources A,B,C] [--items 20] [--delay 1ms]
#
# --delay is added on both ends of each veth pair (so each direction waits that long: a round trip of twice it);
# 0 or "none" adds none. Where the kernel lacks the netem qdisc ("Specified qdisc kind is unknown"), the script says so
# and puts a user-space proxy (scripts/delay-proxy.py, python3) on the host side of each pair that delays each direction
# by the same time instead; --require-delay makes a missing netem an error, --no-proxy runs without delay then.
# Addresses: 10.77.<i>.1 (host side; the proxy listens on port 9765 there), 10.77.<i>.2:8765 (the worker).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
config="$root/models/fusion.yaml"
sources="A,B,C"
items=20
delay=1ms
require_delay=0
use_proxy=1
port=8765
proxy_port=9765
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2 ;;
    --sources) sources="$2"; shift 2 ;;
    --items) items="$2"; shift 2 ;;
    --delay) delay="$2"; shift 2 ;;
    --require-delay) require_delay=1; shift ;;
    --no-proxy) use_proxy=0; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "netns-bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
for tool in ip tc; do
  command -v "$tool" >/dev/null || { echo "netns-bench: '$tool' is missing (iproute2)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "netns-bench: needs root (network namespaces); run it with sudo" >&2; exit 1; }

IFS=, read -r -a names <<< "$sources"
prefix="cfb$$"
pids=()
made=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ns in "${made[@]}"; do ip netns del "$ns" 2>/dev/null || true; done # takes its veth pair with it
}
trap cleanup EXIT INT TERM

# Build once, outside the namespaces (the workers and the bench share the build).
"$root/cool-fusion" providers >/dev/null

netem=1
if [ "$delay" = 0 ] || [ "$delay" = none ]; then
  netem=0
fi
workers=()
for i in "${!names[@]}"; do
  ns="${prefix}w$i"
  host_if="${prefix}h$i"
  worker_if="${prefix}n$i"
  ip netns add "$ns"
  made+=("$ns")
  ip link add "$host_if" type veth peer name "$worker_if"
  ip link set "$worker_if" netns "$ns"
  ip addr add "10.77.$i.1/24" dev "$host_if"
  ip link set "$host_if" up
  ip netns exec "$ns" ip addr add "10.77.$i.2/24" dev "$worker_if"
  ip netns exec "$ns" ip link set "$worker_if" up
  ip netns exec "$ns" ip link set lo up
  if [ "$netem" = 1 ]; then
    if ! err=$(tc qdisc add dev "$host_if" root netem delay "$delay" 2>&1) \
        || ! err=$(ip netns exec "$ns" tc qdisc add dev "$worker_if" root netem delay "$delay" 2>&1); then
      if [ "$require_delay" = 1 ]; then
        echo "netns-bench: cannot add a netem delay ($err); this kernel lacks sch_netem" >&2
        exit 1
      fi
      echo "netns-bench: no netem here ($err)" >&2
      netem=0
      tc qdisc del dev "$host_if" root 2>/dev/null || true
    fi
  fi
  log="$(mktemp -t netns-bench-worker-$i.XXXX.log)"
  ip netns exec "$ns" "$root/cool-fusion" worker --config "$config" --source "${names[$i]}" \
    --host "10.77.$i.2" --port "$port" >"$log" 2>&1 &
  pids+=($!)
  workers+=("http://10.77.$i.2:$port")
  echo "worker ${names[$i]} in namespace $ns at 10.77.$i.2:$port (log $log)" >&2
done
proxied=0
if [ "$netem" = 0 ]; then
  for i in "${!names[@]}"; do tc qdisc del dev "${prefix}h$i" root 2>/dev/null || true; done
  for i in "${!names[@]}"; do ip netns exec "${prefix}w$i" tc qdisc del dev "${prefix}n$i" root 2>/dev/null || true; done
  if [ "$delay" != 0 ] && [ "$delay" != none ] && [ "$use_proxy" = 1 ] && command -v python3 >/dev/null; then
    ms="${delay%ms}"
    case "$delay" in *us) ms="$(awk "BEGIN {print ${delay%us} / 1000}")" ;; *s) [ "$ms" = "$delay" ] && ms="$(awk "BEGIN {print ${delay%s} * 1000}")" ;; esac
    for i in "${!names[@]}"; do
      python3 "$root/scripts/delay-proxy.py" "10.77.$i.1:$proxy_port" "10.77.$i.2:$port" "$ms" &
      pids+=($!)
      workers[$i]="http://10.77.$i.1:$proxy_port"
    done
    proxied=1
    echo "delay: $delay each way by a user-space proxy per worker (scripts/delay-proxy.py), not netem" >&2
  else
    echo "netns-bench: measuring namespaces and veth pairs without added delay" >&2
  fi
fi

for i in "${!names[@]}"; do
  for _ in $(seq 1 240); do
    if (exec 3<>"/dev/tcp/10.77.$i.2/$port") 2>/dev/null \
        && { [ "$proxied" = 0 ] || (exec 3<>"/dev/tcp/10.77.$i.1/$proxy_port") 2>/dev/null; }; then
      break
    fi
    kill -0 "${pids[$i]}" 2>/dev/null || { echo "netns-bench: worker ${names[$i]} exited" >&2; exit 1; }
    sleep 0.5
  done
done
if [ "$netem" = 1 ]; then
  echo "delay: $delay each way on every veth pair" >&2
fi
ping -c 3 -q 10.77.0.2 2>/dev/null | tail -1 >&2 || true
"$root/cool-fusion" bench-remote --config "$config" --items "$items" \
  --workers "$(IFS=,; echo "${workers[*]}")"

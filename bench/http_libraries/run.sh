#!/usr/bin/env bash
# Measures the two HTTP libraries `p2p serve` could be built on, as Debian ships them: cpp-httplib 0.11.4
# (libcpp-httplib-dev, a shared library) and Boost.Beast (libboost-dev 1.74, header-only). Both servers
# in this folder answer GET /healthz (small JSON) and POST /echo (the body back, 64 MiB limit) on
# 127.0.0.1. The script (1) compiles each with g++ -O2 -std=c++17, timing the compile; (2) starts each
# with the same number of worker threads; (3) loads it with wrk over loopback: GET /healthz with 1 and
# 16 connections, POST /echo of 200 KB with 8 connections, DURATION s each; (4) holds SLOW connections
# open that send one header line a second and checks whether /healthz still answers within 2 s.
# Prints Markdown tables. wrk runs one thread and shares the machine's cores with the server.
#   bash bench/http_libraries/run.sh [DURATION] [THREADS]     (defaults: 10 s, 2 threads; ~2.5 min)
set -euo pipefail
cd "$(dirname "$0")"
DURATION="${1:-10}"
THREADS="${2:-2}"
SLOW=12
for tool in g++ wrk curl pkg-config python3; do
  command -v "$tool" >/dev/null || { echo "http_libraries: $tool not found (bash scripts/setup.sh)" >&2; exit 1; }
done
pkg-config --exists cpp-httplib || { echo "http_libraries: cpp-httplib not found (apt-get install libcpp-httplib-dev)" >&2; exit 1; }
[ -f /usr/include/boost/beast.hpp ] || { echo "http_libraries: Boost.Beast not found (apt-get install libboost-dev)" >&2; exit 1; }
OUT=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$OUT"; }
trap cleanup EXIT

# wrk script for the echo load: a fixed 200 KB body.
cat > "$OUT/echo.lua" <<'LUA'
wrk.method = "POST"
wrk.body = string.rep("x", 200 * 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
LUA

# Lines of our code: not blank, not a comment line.
loc() { grep -cvE '^[[:space:]]*(//.*)?$' "$1"; }

# compile NAME SOURCE EXTRA_FLAGS... -> one table row; the binary lands in $OUT/NAME.
compile() {
  local name=$1 src=$2; shift 2
  local t0 t1 kib rss
  t0=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$OUT/$name.rss" g++ -O2 -std=c++17 "$src" -o "$OUT/$name" "$@"
  t1=$(date +%s.%N)
  kib=$(( $(stat -c %s "$OUT/$name") / 1024 ))
  rss=$(( $(tail -1 "$OUT/$name.rss") / 1024 ))
  printf '| %s | %d | %.1f | %d | %s |\n' "$name" "$(loc "$src")" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$rss" "$kib" 
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start BINARY ARGS... -> sets PORT and PID once /healthz answers.
start() {
  local bin=$1; shift
  PORT=$(free_port)
  "$OUT/$bin" "$PORT" "$@" >/dev/null 2>&1 &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 50); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && return 0
    sleep 0.1
  done
  echo "http_libraries: $bin did not start" >&2; exit 1
}

stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; }

# load LABEL CONNECTIONS PATH [LUA] -> one table row from wrk --latency.
load() {
  local label=$1 conns=$2 path=$3 lua=${4:-}
  local args=(-t1 -c"$conns" -d"${DURATION}s" --latency)
  [ -n "$lua" ] && args+=(-s "$lua")
  wrk "${args[@]}" "http://127.0.0.1:$PORT$path" > "$OUT/wrk.txt"
  awk -v label="$label" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                     if (v ~ /m$/) return v * 60000; return v * 1000 }   # "s": seconds
    $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
    /^Requests\/sec:/ { rps = $2 }
    /Socket errors:/ { gsub(",", ""); errs += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx/ { errs += $5 }
    END { printf "| %s | %.0f | %.3f | %.3f | %d |\n", label, rps, p50, p99, errs }' "$OUT/wrk.txt"
}

# slow_senders -> "yes (ms)" if /healthz answers within 2 s while $SLOW connections trickle headers.
slow_senders() {
  python3 - "$PORT" "$SLOW" <<'PY'
import socket, sys, threading, time, urllib.request
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    socks.append(s)
def trickle():
    for _ in range(10):
        time.sleep(1)
        for s in socks:
            try: s.sendall(b"X-Slow: 1\r\n")
            except OSError: pass
threading.Thread(target=trickle, daemon=True).start()
time.sleep(1.5)
t0 = time.time()
try:
    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
    print(f"yes ({(time.time() - t0) * 1000:.0f} ms)")
except Exception:
    print("no (timed out after 2 s)")
PY
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores;" \
     "load average before: $(cut -d' ' -f1-3 /proc/loadavg); wrk ${DURATION}s per row, server threads $THREADS"
echo
echo "| server | lines of our code | compile s | compiler peak MiB | binary KiB |"
echo "|---|---|---|---|---|"
# shellcheck disable=SC2046  # pkg-config prints several flags on purpose
compile httplib_server httplib_server.cpp $(pkg-config --cflags --libs cpp-httplib) -pthread
compile beast_server beast_server.cpp -pthread
echo
echo "httplib_server also loads libcpp-httplib.so ($(( $(stat -Lc %s "$(pkg-config --variable=libdir cpp-httplib)/libcpp-httplib.so") / 1024 )) KiB) and OpenSSL, zlib, brotli."
echo

# label|command|loads it runs in (h1: healthz 1 connection, h16: healthz 16, echo, slow). Rows skip the
# loads that say nothing new about them, to keep the script near 2.5 minutes: the library defaults
# (no TCP_NODELAY) only matter for small replies, the library's default pool only when connections
# outnumber threads, and Beast's read buffer only for bodies.
ROWS=(
  "cpp-httplib, pool $THREADS (library defaults)|httplib_server $THREADS 0|h1 h16"
  "cpp-httplib, pool $THREADS, TCP_NODELAY|httplib_server $THREADS 1|h1 h16 echo slow"
  "cpp-httplib, default pool ($(( $(nproc) > 9 ? $(nproc) - 1 : 8 ))), TCP_NODELAY|httplib_server 0 1|h16 echo slow"
  "Beast, $THREADS threads (as the example)|beast_server $THREADS 0|h1 h16 echo slow"
  "Beast, $THREADS threads, 64 KiB read buffer|beast_server $THREADS 64|echo"
)
# rows LOAD -> "label|command" of the rows that run LOAD.
rows() {
  for row in "${ROWS[@]}"; do
    [[ " ${row##*|} " == *" $1 "* ]] && echo "${row%|*}"
  done
}

for what in "h1|GET /healthz, 1 connection|1|/healthz|" "h16|GET /healthz, 16 connections|16|/healthz|" \
            "echo|POST /echo of 200 KB, 8 connections|8|/echo|$OUT/echo.lua"; do
  IFS='|' read -r key title conns path lua <<< "$what"
  echo "$title:"
  echo
  echo "| server | requests/s | p50 ms | p99 ms | errors |"
  echo "|---|---|---|---|---|"
  while IFS='|' read -r label cmd; do
    # shellcheck disable=SC2086  # the command and its arguments split on purpose
    start $cmd
    load "$label" "$conns" "$path" "$lua"
    stop
  done < <(rows "$key")
  echo
done

echo "Slow senders: $SLOW connections send one header line a second; does GET /healthz answer within 2 s?"
echo
echo "| server | answers |"
echo "|---|---|"
while IFS='|' read -r label cmd; do
  # shellcheck disable=SC2086
  start $cmd
  echo "| $label | $(slow_senders) |"
  stop
done < <(rows slow)
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

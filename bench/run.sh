#!/usr/bin/env bash
# HTTP benchmark (issue #7), one command from the repo root:
#   bash bench/run.sh
# Seeds a realistic database through the app's own write path
# (bench/seed.rs), serves it with the release binary, drives it with wrk
# (installed from Debian's packages if missing) and prints a Markdown table:
# throughput, p50/p99 latency, and the ceiling measured in the same run (the
# same stack serving the proposal page's bytes as a static page), plus idle
# and peak RSS. Settings (environment):
#   BENCH_SECONDS=10        length of each scenario
#   BENCH_CONNECTIONS=64    concurrent connections
#   SETTLED_SEED_SCALE=1    0.1 seeds a tenth (quick check)
#   BENCH_KEEP=1            keep the temporary folder (database, logs)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECONDS_EACH=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-64}

if ! command -v wrk >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends wrk \
        || { apt-get update && apt-get install -y --no-install-recommends wrk; }
fi
for tool in cargo curl python3 wrk; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$tool is not installed" >&2; exit 1; }
done

echo "--- build (release)" >&2
cargo build --release --locked --bin settled --example bench_seed >&2
TARGET_DIR=${CARGO_TARGET_DIR:-target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
BIN="$TARGET_DIR/release/settled"
SEED="$TARGET_DIR/release/examples/bench_seed"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/settled-bench.XXXXXX")
SERVER_PID=
stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=
}
cleanup() {
    local status=$?
    stop_server
    if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$status" -ne 0 ]; then
        echo "temporary files kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

DB="sqlite://$WORK/bench.db"
echo "--- seed" >&2
"$SEED" "$DB" >"$WORK/seed.env" 2> >(tee "$WORK/seed.log" >&2)
# shellcheck disable=SC1091
. "$WORK/seed.env"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
start_server() {
    SETTLED_DATABASE_URL="$DB" RUST_LOG="${RUST_LOG:-info}" \
        "$BIN" serve --bind "127.0.0.1:$PORT" --base-url "$BASE" --mail-dir "$WORK/mail" "$@" >>"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 150); do
        if curl -fsS "$BASE/healthz" >/dev/null 2>&1; then return 0; fi
        kill -0 "$SERVER_PID" 2>/dev/null || { echo "the server exited" >&2; tail -n 20 "$WORK/server.log" >&2; return 1; }
        sleep 0.2
    done
    echo "the server did not start" >&2
    return 1
}
rss_kb() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }

# Sign in like a browser; leaves the cookie jar and prints the CSRF token of
# the proposal page.
sign_in() {
    local jar="$WORK/cookies"
    rm -f "$jar"
    local token
    token=$(curl -fsS -c "$jar" -b "$jar" "$BASE/sign-in" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -n 1)
    curl -fsS -o /dev/null -c "$jar" -b "$jar" \
        --data-urlencode "csrf_token=$token" --data-urlencode "email=$BENCH_EMAIL" \
        --data-urlencode "password=$BENCH_PASSWORD" "$BASE/sign-in"
    curl -fsS -c "$jar" -b "$jar" "$BASE/d/$BENCH_PROPOSAL" >"$WORK/proposal.html"
    sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' "$WORK/proposal.html" | head -n 1
}
cookie_header() { awk '$6 == "settled_session" { print "settled_session=" $7 }' "$WORK/cookies"; }

echo "--- the ceiling page" >&2
start_server
sign_in >/dev/null
grep -q "$BENCH_PROPOSAL" "$WORK/proposal.html" || { echo "could not load the proposal page" >&2; exit 1; }
stop_server
start_server --bench-ceiling "$WORK/proposal.html"
CSRF=$(sign_in)
COOKIE=$(cookie_header)
[ -n "$CSRF" ] && [ -n "$COOKIE" ] || { echo "sign-in failed" >&2; exit 1; }
for path in "/d/$BENCH_PROPOSAL" "/t/$BENCH_TEAM" "/t/$BENCH_TEAM/decisions" "/api/v1/decisions/$BENCH_PROPOSAL" /bench/ceiling; do
    curl -fsS -o /dev/null -b "$WORK/cookies" "$BASE$path" # warm up, and fail early on a bad path
done
sleep 1
IDLE_RSS=$(rss_kb "$SERVER_PID" VmRSS)

log_size() {
    python3 - "$WORK/bench.db" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
print(con.execute("SELECT COUNT(*) FROM log_entries").fetchone()[0])
PY
}

declare -A RPS
ROWS=()
run() { # name path mode connections
    local name=$1 path=$2 mode=$3 conns=$4 before after out line
    before=$(log_size)
    out=$(BENCH_COOKIE="$COOKIE" BENCH_CSRF="$CSRF" BENCH_MODE="$mode" \
        wrk -t "$(( conns < 2 ? conns : 2 ))" -c "$conns" -d "${SECONDS_EACH}s" --timeout 10s -s bench/wrk.lua "$BASE$path")
    after=$(log_size)
    line=$(grep '^RESULT' <<<"$out") || { echo "$out" >&2; exit 1; }
    eval "local ${line#RESULT }"
    # shellcheck disable=SC2154
    if [ "$socket_errors" -ne 0 ] || [ "$status_errors" -ne 0 ]; then
        echo "$name: $socket_errors socket errors, $status_errors error statuses" >&2
        exit 1
    fi
    local rps written=""
    rps=$(python3 -c "print(round($requests / ($duration_us / 1e6)))")
    RPS[$name]=$rps
    if [ "$mode" != get ]; then
        # Every acknowledged write is a log entry (a few more may have landed
        # while wrk stopped counting at the end).
        [ "$((after - before))" -ge "$requests" ] || { echo "$name: $requests acknowledged, only $((after - before)) log entries" >&2; exit 1; }
        written=" ($((after - before)) log entries)"
    fi
    ROWS+=("| $name | $conns | $rps$written | $(python3 -c "print(f'{$p50_us/1000:.2f}')") | $(python3 -c "print(f'{$p99_us/1000:.2f}')") | $((bytes / requests)) | RATIO:$name |")
    echo "$name: $rps req/s, p50 ${p50_us} us, p99 ${p99_us} us" >&2
}

echo "--- load ($SECONDS_EACH s each, $CONNS connections)" >&2
run "ceiling: static page, same stack" /bench/ceiling get "$CONNS"
run "proposal page (50 comments, 12 members)" "/d/$BENCH_PROPOSAL" get "$CONNS"
run "dashboard" "/t/$BENCH_TEAM" get "$CONNS"
run "decision log page" "/t/$BENCH_TEAM/decisions" get "$CONNS"
run "API decision JSON" "/api/v1/decisions/$BENCH_PROPOSAL" get "$CONNS"
run "stance POST" "/d/$BENCH_PROPOSAL/stance" stance "$CONNS"
run "stance POST, one client" "/d/$BENCH_PROPOSAL/stance" stance 1
run "comment POST" "/d/$BENCH_PROPOSAL/comments" comment "$CONNS"
PEAK_RSS=$(rss_kb "$SERVER_PID" VmHWM)
sleep 2
AFTER_RSS=$(rss_kb "$SERVER_PID" VmRSS)
stop_server
echo "--- verify" >&2
SETTLED_DATABASE_URL="$DB" "$BIN" verify >&2

CEILING=${RPS["ceiling: static page, same stack"]}
echo
echo "| scenario | connections | requests/s | p50 ms | p99 ms | bytes/response | of ceiling |"
echo "|---|---|---|---|---|---|---|"
for row in "${ROWS[@]}"; do
    name=${row##*RATIO:}
    name=${name% |}
    ratio=$(python3 -c "print(f'{${RPS[$name]} / $CEILING:.2f}')")
    echo "${row/RATIO:$name/$ratio}"
done
echo
echo "Seed: $(cat "$WORK/seed.log")"
echo "RSS: idle $((IDLE_RSS / 1024)) MB after start-up and warm-up; peak $((PEAK_RSS / 1024)) MB under load; $((AFTER_RSS / 1024)) MB idle after the load."

#!/usr/bin/env bash
# Live-update benchmark (issue #8), one command from the repo root:
#   bash bench/live.sh
# Starts the release binary on a new SQLite database, connects BENCH_VIEWERS
# (default 1000) viewers to one proposal's team stream, posts BENCH_ROUNDS
# (default 30) stances and prints, as a Markdown table, the time until the
# last viewer has each one, every delivery's latency, and the server's memory
# per open stream (bench/live.rs). BENCH_REFETCH=1 also has every viewer
# fetch the proposal page after each event, as the page script does, and
# times that instead. The load generator runs on the same machine and shares
# its cores.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
for tool in cargo curl python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$tool is not installed" >&2; exit 1; }
done
VIEWERS=${BENCH_VIEWERS:-1000}
# Each viewer is a socket on both ends.
ulimit -n "$(( $(ulimit -Hn) < 65536 ? $(ulimit -Hn) : 65536 ))" 2>/dev/null || true
[ "$(ulimit -n)" -gt $(( VIEWERS + 200 )) ] || { echo "ulimit -n $(ulimit -n) is too low for $VIEWERS viewers" >&2; exit 1; }

echo "--- build (release)" >&2
cargo build --release --locked --bin settled --example bench_live >&2
TARGET_DIR=${CARGO_TARGET_DIR:-target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
BIN="$TARGET_DIR/release/settled"
CLIENT="$TARGET_DIR/release/examples/bench_live"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/settled-live.XXXXXX")
SERVER_PID=
cleanup() {
    local status=$?
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$status" -ne 0 ]; then
        echo "temporary files kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

DB="sqlite://$WORK/live.db"
export SETTLED_DATABASE_URL="$DB"
"$BIN" migrate >&2
PASSWORD="a bench password"
export BENCH_POSTER_EMAIL=poster@bench.example BENCH_VIEWER_EMAIL=viewer@bench.example BENCH_VIEWER_PASSWORD="$PASSWORD"
printf '%s\n' "$PASSWORD" | "$BIN" user add --email "$BENCH_POSTER_EMAIL" --name Poster >&2
printf '%s\n' "$PASSWORD" | "$BIN" user add --email "$BENCH_VIEWER_EMAIL" --name Viewer >&2
BENCH_POSTER_TOKEN=$("$BIN" token create --email "$BENCH_POSTER_EMAIL" --name bench)
BENCH_VIEWER_TOKEN=$("$BIN" token create --email "$BENCH_VIEWER_EMAIL" --name bench)
export BENCH_POSTER_TOKEN BENCH_VIEWER_TOKEN

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export BENCH_BASE="http://127.0.0.1:$PORT"
RUST_LOG="${RUST_LOG:-warn}" "$BIN" serve --bind "127.0.0.1:$PORT" --base-url "$BENCH_BASE" --mail-dir "$WORK/mail" >>"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 150); do
    curl -fsS "$BENCH_BASE/healthz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "the server exited" >&2; tail -n 20 "$WORK/server.log" >&2; exit 1; }
    sleep 0.2
done
export BENCH_PID=$SERVER_PID BENCH_VIEWERS=$VIEWERS

echo "--- $VIEWERS viewers, ${BENCH_ROUNDS:-30} stances" >&2
"$CLIENT"

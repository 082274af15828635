#!/usr/bin/env bash
# Starts, stops and restarts the server under test, for e2e/run.sh and for
# the journey that restarts it with its clock ahead:
#   bash e2e/serve.sh start|restart [serve options…]
#   bash e2e/serve.sh stop
# Reads E2E_BIN (the binary), E2E_TMP (its database, mail folder, log and
# pid file) and E2E_BASE_URL (where it listens, on 127.0.0.1).
set -euo pipefail
: "${E2E_BIN:?}" "${E2E_TMP:?}" "${E2E_BASE_URL:?}"
PID_FILE="$E2E_TMP/server.pid"

stop() {
    [ -f "$PID_FILE" ] || return 0
    local pid
    pid=$(cat "$PID_FILE")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        # Graceful shutdown ends the live streams and finishes requests.
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
}

start() {
    SETTLED_DATABASE_URL="sqlite://$E2E_TMP/settled.db" RUST_LOG="${RUST_LOG:-info}" \
        "$E2E_BIN" serve --bind "${E2E_BASE_URL#http://}" --base-url "$E2E_BASE_URL" \
        --mail-dir "$E2E_TMP/mail" "$@" >>"$E2E_TMP/server.log" 2>&1 &
    echo $! >"$PID_FILE"
    node -e '
const url = process.argv[1] + "/healthz";
const pid = Number(process.argv[2]);
const deadline = Date.now() + 30000;
(async () => {
  for (;;) {
    try { process.kill(pid, 0); } catch { console.error("the server exited"); process.exit(1); }
    try { const r = await fetch(url); if (r.ok) { console.log("up at " + process.argv[1]); return; } } catch {}
    if (Date.now() > deadline) { console.error("no answer from " + url + " within 30 s"); process.exit(1); }
    await new Promise((r) => setTimeout(r, 200));
  }
})();
' "$E2E_BASE_URL" "$(cat "$PID_FILE")"
}

command=${1:?start, restart or stop}
shift
case "$command" in
    start) start "$@" ;;
    restart) stop; start "$@" ;;
    stop) stop ;;
    *) echo "unknown command $command" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Browser end-to-end tests (issue #9), from a fresh machine:
#   bash e2e/run.sh
# Installs Debian's chromium and a Java runtime if they are missing, the npm
# packages from e2e/package-lock.json (never a browser download), builds the
# app, serves it on a free port with a new SQLite database, and runs
# e2e/tests/ with Node's test runner. Exits non-zero on any failure.
# Screenshots go to e2e/screenshots/. Set E2E_KEEP=1 to keep the temporary
# folder (database, server log, the HTML pages that were checked).
set -euo pipefail
cd "$(dirname "$0")"
E2E_DIR=$(pwd)
ROOT=$(cd .. && pwd)

SUDO=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get install -y --no-install-recommends "$@" \
        || { "${SUDO[@]}" apt-get update && "${SUDO[@]}" apt-get install -y --no-install-recommends "$@"; }
}

echo "--- tools"
if [ ! -x /usr/bin/chromium ]; then apt_install chromium; fi
if ! command -v java >/dev/null 2>&1; then apt_install default-jre-headless; fi
for tool in node npm cargo; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$tool is not installed" >&2; exit 1; }
done
/usr/bin/chromium --version 2>/dev/null || true
java -version 2>&1 | head -n 1
echo "node $(node --version)"

echo "--- npm ci"
# --ignore-scripts: no package may download anything at install time (vnu-jar
# would fetch a Java runtime; the machine's java is used instead).
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
npm ci --ignore-scripts --no-audit --no-fund

echo "--- cargo build --release --locked"
(cd "$ROOT" && cargo build --release --locked)
TARGET_DIR=${CARGO_TARGET_DIR:-target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
BIN="$TARGET_DIR/release/settled"
[ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }

echo "--- serve"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/settled-e2e.XXXXXX")
export E2E_BIN="$BIN" E2E_TMP="$TMP"
cleanup() {
    local status=$?
    bash "$E2E_DIR/serve.sh" stop || true
    if [ "$status" -ne 0 ] && [ -f "$TMP/server.log" ]; then
        echo "--- last lines of the server log ($TMP/server.log)" >&2
        tail -n 40 "$TMP/server.log" >&2 || true
    fi
    if [ "${E2E_KEEP:-0}" = 1 ] || [ "$status" -ne 0 ]; then
        echo "temporary files kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
export E2E_BASE_URL="http://127.0.0.1:$PORT"
# The last journey restarts the server with its clock ahead (e2e/serve.sh).
bash "$E2E_DIR/serve.sh" start

echo "--- tests"
rm -rf "$E2E_DIR/screenshots"
export E2E_HTML_DIR="$TMP/html"
# Mail the app wrote as .eml files (the journeys read links from it).
export E2E_MAIL_DIR="$TMP/mail"
node --test --test-reporter=spec tests/

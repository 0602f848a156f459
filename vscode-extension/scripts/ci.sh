#!/usr/bin/env bash
# CI for the VS Code extension: installs what a fresh Debian machine lacks (apt: Chromium and what
# code-server's native modules build with; npm: the extension's dependencies and code-server), builds
# the weft server and the extension, packages weft.vsix, and runs the extension's tests in real VS Code
# (code-server 4.100.3 + Debian Chromium through playwright-core) on the packaged extension.
#
#   vscode-extension/scripts/ci.sh [--no-install]
#
#   --no-install           install nothing (apt, code-server); fail if something is missing
#   WEFT_BIN=path          test this weft binary instead of building target/debug/weft
#   WEFT_VSCODE_CACHE=dir  where code-server is installed (default ~/.cache/weft-vscode)
#   WEFT_SKIP_UI=1, WEFT_SKIP_UNTRUSTED=1, WEFT_TEST_GREP=pattern   see scripts/test-vscode.sh
#
# Idempotent: what is installed already is not installed again. Meant for root with CI=true and no
# TTY, as .ci/run runs it; works as another user when the apt packages are there. Exit status 0 when
# everything passed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(cd "$HERE/.." && pwd)
INSTALL=1
[[ "${1:-}" == "--no-install" ]] && INSTALL=0

# code-server 4.100.3 is the last release for Node 20 (later ones need Node 22 or 24).
NODE_MAJOR=20
APT_PACKAGES=(chromium ripgrep libkrb5-dev build-essential python3 pkg-config curl)
# @vscode/ripgrep (inside code-server) downloads rg from GitHub in its postinstall; its download cache
# is seeded with Debian's rg instead. The version and asset name go with code-server 4.100.3.
RIPGREP_CACHE=${TMPDIR:-/tmp}/vscode-ripgrep-cache-1.15.11
RIPGREP_ASSET=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz

START=$SECONDS
TIMES=()
phase() { echo; echo "=== vscode-extension: $* ($((SECONDS - START)) s)"; }
took() { TIMES+=("$1: $(($SECONDS - $2)) s"); }
die() { echo "vscode-extension/scripts/ci.sh: $*" >&2; exit 1; }

# --- System packages ---------------------------------------------------------------------------
t=$SECONDS
phase "system packages"
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
command -v node > /dev/null || missing+=(nodejs)
if ((${#missing[@]} > 0)); then
  ((INSTALL)) || die "missing packages: ${missing[*]} (run without --no-install as root)"
  [[ $(id -u) -eq 0 ]] || die "missing packages: ${missing[*]}; install them as root: apt-get install ${missing[*]}"
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "installed: ${APT_PACKAGES[*]}"
fi
node_version=$(node --version)
[[ $node_version == v$NODE_MAJOR.* ]] ||
  die "code-server 4.100.3 needs Node $NODE_MAJOR; this machine has $node_version"
# node-gyp builds code-server's native modules against the installed headers (no download).
NODEDIR=$(dirname "$(dirname "$(command -v node)")")
[[ -f $NODEDIR/include/node/node_version.h ]] || die "no Node headers in $NODEDIR/include/node (the nodejs package has them)"
took "system packages" "$t"

# --- The weft server -----------------------------------------------------------------------------
t=$SECONDS
if [[ -n "${WEFT_BIN:-}" ]]; then
  phase "weft server: $WEFT_BIN"
else
  phase "weft server: cargo build"
  command -v cargo > /dev/null || die "cargo is missing: the weft server is built with a Rust toolchain"
  (cd "$ROOT" && cargo build --locked --bin weft)
  WEFT_BIN=$ROOT/target/debug/weft
fi
[[ -x "$WEFT_BIN" ]] || die "not an executable: $WEFT_BIN"
took "weft server" "$t"

# --- The extension's npm dependencies ------------------------------------------------------------
t=$SECONDS
phase "extension dependencies (npm ci)"
cd "$HERE"
lock_hash=$(sha256sum package-lock.json | cut -c1-16)
if [[ -f node_modules/.weft-ci-lock && $(cat node_modules/.weft-ci-lock) == "$lock_hash" ]]; then
  echo "node_modules matches package-lock.json"
else
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.weft-ci-lock
fi
took "npm ci" "$t"

# --- code-server and playwright-core, in a cache folder outside the repository --------------------
t=$SECONDS
phase "code-server"
CACHE=${WEFT_VSCODE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/weft-vscode}
host_hash=$(cat test/code-server/package.json test/code-server/package-lock.json | sha256sum | cut -c1-16)
CODE_SERVER_HOME=$CACHE/code-server-$host_hash
if [[ -f $CODE_SERVER_HOME/.installed ]]; then
  echo "installed in $CODE_SERVER_HOME"
else
  ((INSTALL)) || die "code-server is not installed in $CODE_SERVER_HOME (run without --no-install)"
  mkdir -p "$CACHE"
  # One installer at a time; a second one waits and then finds it installed.
  exec 9> "$CACHE/install.lock"
  flock 9
  if [[ ! -f $CODE_SERVER_HOME/.installed ]]; then
    rm -rf "$CODE_SERVER_HOME"
    mkdir -p "$CODE_SERVER_HOME" "$RIPGREP_CACHE/rg-bin"
    cp test/code-server/package.json test/code-server/package-lock.json "$CODE_SERVER_HOME/"
    if [[ ! -f $RIPGREP_CACHE/$RIPGREP_ASSET ]]; then
      cp "$(command -v rg)" "$RIPGREP_CACHE/rg-bin/rg"
      tar czf "$RIPGREP_CACHE/$RIPGREP_ASSET" -C "$RIPGREP_CACHE/rg-bin" rg
    fi
    # As root, code-server's postinstall wants unsafe-perm; node-pty's postinstall runs `npx node-gyp`
    # (yes=true answers npx); node-gyp uses the installed Node headers.
    (cd "$CODE_SERVER_HOME" &&
      npm_config_nodedir=$NODEDIR npm_config_unsafe_perm=true npm_config_yes=true \
        npm ci --no-audit --no-fund) || { rm -rf "$CODE_SERVER_HOME"; die "installing code-server failed"; }
    version=$(XDG_CONFIG_HOME=$CODE_SERVER_HOME/.probe XDG_DATA_HOME=$CODE_SERVER_HOME/.probe \
      node "$CODE_SERVER_HOME/node_modules/code-server/out/node/entry.js" --version 2>&1 | grep -E '^[0-9]+\.' | head -n 1 || true)
    rm -rf "$CODE_SERVER_HOME/.probe"
    [[ $version == 4.100.3* ]] || { rm -rf "$CODE_SERVER_HOME"; die "code-server does not start: $version"; }
    touch "$CODE_SERVER_HOME/.installed"
    # Older installs of other versions are of no use any more.
    find "$CACHE" -maxdepth 1 -name 'code-server-*' ! -path "$CODE_SERVER_HOME" -exec rm -rf {} +
  fi
  exec 9>&-
fi
took "code-server" "$t"

# --- Build and package ---------------------------------------------------------------------------
t=$SECONDS
phase "build"
npm run build
took "build" "$t"

t=$SECONDS
phase "package weft.vsix"
rm -f weft.vsix
npm run package
PACKAGED=$(mktemp -d "${TMPDIR:-/tmp}/weft-vsix.XXXXXX")
trap 'rm -rf "$PACKAGED"' EXIT
python3 - "$HERE/weft.vsix" "$PACKAGED" << 'PY'
import sys, zipfile
vsix, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(vsix) as archive:
    names = archive.namelist()
    archive.extractall(target)
files = sorted(n for n in names if n.startswith("extension/"))
print(f"{vsix}: {len(names)} entries")
for name in files:
    print("  " + name)
required = ["extension/package.json", "extension/dist/extension.js", "extension/schemas/workflow.schema.json",
            "extension/schemas/plan.schema.json", "extension/schemas/weft.schema.json",
            "extension/schemas/phases.schema.json", "extension/readme.md"]
lower = {n.lower() for n in names}
missing = [r for r in required if r.lower() not in lower]
unwanted = [n for n in files if n.startswith(("extension/src/", "extension/node_modules/", "extension/test/", "extension/out/"))]
if missing or unwanted:
    sys.exit(f"bad package: missing {missing}, unwanted {unwanted}")
PY
took "package" "$t"

# --- Tests in real VS Code, on the packaged extension ----------------------------------------------
t=$SECONDS
phase "tests in code-server"
status=0
mkdir -p "$HERE/test-output"
WEFT_BIN=$WEFT_BIN CODE_SERVER_HOME=$CODE_SERVER_HOME EXTENSION_DIR=$PACKAGED/extension \
  TEST_OUTPUT=$HERE/test-output bash "$HERE/scripts/test-vscode.sh" 2>&1 | tee "$HERE/test-output/test-vscode.txt" || status=$?
took "tests" "$t"

echo
echo "=== vscode-extension: timings: ${TIMES[*]/%/;} total $((SECONDS - START)) s"
if [[ $status -ne 0 ]]; then
  echo "vscode-extension: FAILED (screenshots and logs in $HERE/test-output)"
else
  echo "vscode-extension: weft.vsix built and tested; screenshot: $HERE/test-output/run-stage.png"
fi
# The counts once more, as the last line.
grep -E '^vscode: [0-9]+ passed, [0-9]+ failed$' "$HERE/test-output/test-vscode.txt" 2>/dev/null || echo "vscode: 0 passed, 1 failed"
exit "$status"

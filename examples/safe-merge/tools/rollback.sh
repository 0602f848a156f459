#!/bin/sh
# Fallback of the merge and test steps: put the sandbox back to the snapshot taken before the merge.
# Consumes `repo_dir` and `snapshot_ref`.
set -eu
repo=${WEFT_IN_REPO_DIR:?repo_dir not provided}
ref=${WEFT_IN_SNAPSHOT_REF:?snapshot_ref not provided}
git -C "$repo" merge --abort 2>/dev/null || true   # a conflicted merge leaves MERGE_HEAD behind
git -C "$repo" reset -q --hard "$ref"
git -C "$repo" clean -q -fd
echo "rolled back $repo to $(git -C "$repo" rev-parse --short HEAD)"
if [ -n "${WEFT_OUTPUT:-}" ]; then echo "rolled_back_to=$ref" >> "$WEFT_OUTPUT"; fi

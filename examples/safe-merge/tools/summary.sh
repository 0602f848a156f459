#!/bin/sh
# Report whether the feature was merged or rolled back. Consumes `repo_dir` and `snapshot_ref`,
# provides `outcome` (merged | rolled_back).
set -eu
repo=${WEFT_IN_REPO_DIR:?repo_dir not provided}
ref=${WEFT_IN_SNAPSHOT_REF:?snapshot_ref not provided}
if [ "$(git -C "$repo" rev-parse HEAD)" = "$ref" ]; then
  outcome=rolled_back
  echo "feature/greeting was NOT merged: main is back at the snapshot $ref"
else
  outcome=merged
  echo "feature/greeting merged into main:"
  git -C "$repo" log --oneline --graph -5
fi
if [ -n "${WEFT_OUTPUT:-}" ]; then echo "outcome=$outcome" >> "$WEFT_OUTPUT"; fi

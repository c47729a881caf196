#!/usr/bin/env bash
# The floor of `plan` on a converged pod: one API call for the account's pods, one SSH command for the
# run's facts (its status file and checkpoints). The endpoint is known beforehand, as the state file knows it.
#   PORT=... KEY=... bench/baseline/floor_plan.sh
set -euo pipefail
. "$(dirname "$0")/common.sh"
: "${PORT:?}"
api "{ myself { pods { id name desiredStatus runtime { ports { ip publicPort privatePort } } } } }" > /dev/null
pod_ssh "$PORT" "cat /workspace/.podreconcile/runs/tiny_run/status.json; ls /workspace/tiny/outputs/tiny_run" > /dev/null

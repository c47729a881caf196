#!/usr/bin/env bash
# The floor of `apply` from a stopped pod to training started: one API call to start it, SSH tried until
# it answers (no fixed interval), one rsync of the code, one ssh to start training in tmux; and, as the
# training's own last command, `runpodctl stop pod` so billing ends when training does.
#   POD_ID=... KEY=... CODE_DIR=... bench/baseline/floor_apply.sh
set -euo pipefail
. "$(dirname "$0")/common.sh"
: "${POD_ID:?}" "${CODE_DIR:?}"
REMOTE=/workspace/tiny
api "mutation { podResume(input: {podId: \"$POD_ID\", gpuCount: 1}) { id } }" > /dev/null
until read -r HOST port <<< "$(ssh_endpoint "$POD_ID")" && [ -n "$port" ] && pod_ssh "$port" true 2>/dev/null; do
  sleep 0.1
done
rsync -a --exclude .git --exclude outputs/ --exclude logs/ -e "ssh ${SSH_OPTS[*]} -p $port" "$CODE_DIR/" "root@${HOST:-127.0.0.1}:$REMOTE/"
# An SSH session lacks the pod's RUNPOD_* variables (they live in PID 1's environment): keep them for the stop.
pod_ssh "$port" "cd $REMOTE && tr '\\0' '\\n' < /proc/1/environ | grep ^RUNPOD_ | sed 's/^/export /' > .pod-env &&
  tmux new-session -d -s train 'python3 scripts/train.py --config configs/tiny.yaml > train.log 2>&1; . ./.pod-env; runpodctl stop pod \$RUNPOD_POD_ID'"

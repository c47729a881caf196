#!/usr/bin/env bash
# The shell-script way of the original plan, written as it would have been: start the pod through the
# API with curl, poll every 10 s until SSH answers, copy the code over, `pip install -r requirements.txt`
# every time, start training in tmux, then `tail -f` the log. Nothing stops the pod when training ends.
#   POD_ID=... KEY=... CODE_DIR=... bench/baseline/shell_way.sh      (FOLLOW=0: return once tmux started)
set -euo pipefail
. "$(dirname "$0")/common.sh"
: "${POD_ID:?}" "${CODE_DIR:?}"
POLL=${POLL:-10}
REMOTE=/workspace/tiny

api "mutation { podResume(input: {podId: \"$POD_ID\", gpuCount: 1}) { id desiredStatus } }" > /dev/null
while true; do
  read -r HOST port <<< "$(ssh_endpoint "$POD_ID")" || true
  if [ -n "$port" ] && pod_ssh "$port" true 2>/dev/null; then break; fi
  echo "waiting for the pod..."
  sleep "$POLL"
done
pod_ssh "$port" "mkdir -p $REMOTE"
rsync -az --delete --exclude .git --exclude outputs/ --exclude logs/ -e "ssh ${SSH_OPTS[*]} -p $port" "$CODE_DIR/" "root@${HOST:-127.0.0.1}:$REMOTE/"
# PIP_BREAK_SYSTEM_PACKAGES: the sandbox's pods run the host's Debian python3, which refuses pip without it
# (RunPod's pytorch images do not); the install itself is what the script always did.
pod_ssh "$port" "cd $REMOTE && PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q --disable-pip-version-check -r requirements.txt"
pod_ssh "$port" "cd $REMOTE && tmux new-session -d -s train 'python3 scripts/train.py --config configs/tiny.yaml > train.log 2>&1'"
if [ "${FOLLOW:-1}" = 1 ]; then
  pod_ssh "$port" "tail -f $REMOTE/train.log"
fi

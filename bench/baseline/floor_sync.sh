#!/usr/bin/env bash
# The floor of a sync: one rsync over one SSH connection; prints rsync's --stats (bytes sent).
#   PORT=... KEY=... bench/baseline/floor_sync.sh LOCAL_DIR REMOTE_DIR
set -euo pipefail
. "$(dirname "$0")/common.sh"
: "${PORT:?}"
rsync -a --delete --stats --exclude .git --exclude .podreconcile --exclude .runpod.env -e "ssh ${SSH_OPTS[*]} -p $PORT" "$1/" "root@${HOST:-127.0.0.1}:$2/"

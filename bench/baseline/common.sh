# Sourced by the baselines: the API through curl, ssh and rsync to a sandbox pod, as a script would.
# Needs RUNPOD_API_BASE_URL, RUNPOD_API_KEY (from `eval "$(podreconcile sandbox up)"`) and KEY (private key).
SSH_OPTS=(-i "$KEY" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes -o ConnectTimeout=5)

api() {  # one GraphQL call
  curl -sf -H "Authorization: Bearer $RUNPOD_API_KEY" -H 'Content-Type: application/json' \
       -d "$(jq -cn --arg q "$1" '{query: $q}')" "$RUNPOD_API_BASE_URL/graphql"
}

ssh_endpoint() {  # "IP PORT" of the pod's 22/tcp, empty while it boots
  api "{ pod(input: {podId: \"$1\"}) { runtime { ports { ip privatePort publicPort } } } }" |
    jq -r '.data.pod.runtime.ports[]? | select(.privatePort == 22) | "\(.ip) \(.publicPort)"'
}

pod_ssh() {  # pod_ssh PORT COMMAND...
  local port=$1; shift
  ssh "${SSH_OPTS[@]}" -p "$port" "root@${HOST:-127.0.0.1}" "$@"
}

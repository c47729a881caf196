"""podreconcile's training supervisor. It runs ON the pod, in the tmux session `train`.

    python3 runner.pyz <mount>/.podreconcile/runs/<run>/launch.json
    python3 runner.pyz --watchdog <launch.json> <launch_id> <deadline_epoch>   (spawned by the runner)
    python3 idleguard.pyz arm <timeout_s> <mount>    (the idle guard: an archive of idle_guard.py
                                                       and the modules of the pod-stop chain)

One runner runs one attempt of one run: it takes the run's lock, decides how the attempt starts
(fresh, resume from the latest complete checkpoint, or force restart), prepares the venv and the
setup, runs the training in its own process group, writes the logs and status.json, and stops the
pod when the attempt ends (stop_pod_when_done) or when max_runtime passes.

The pod's system python3 runs this package, shipped as one zip archive (`runner_archive()` in
`podreconcile.remote`): stdlib only, Python >= 3.8, relative imports only, nothing from the rest of
podreconcile. Secrets (RUNPOD_API_KEY and the like) reach children through their environment only;
they are never written to a log, to status.json, or to a command line.

Modules: `main` (entry), `attempt` (one attempt, start to pod stop), `launch` (launch.json and the
run's paths), `lock`, `env` (PID 1's environment), `redact`, `logs`, `status`, `checkpoints`,
`venv_setup`, `signals`, `child`, `podstop` (the stop chain: runpodctl, v2, GraphQL, each checked),
`podapi` (the pod's status and stop over RunPod's APIs with the pod's key), `watchdog`, `basics`, `idle_guard`.
"""

#!/usr/bin/env python3
"""A tiny stand-in for a Hugging Face Seq2SeqTrainer run, stdlib only.

    python3 scripts/train.py --config configs/tiny.yaml [--resume_from_checkpoint DIR]

It "trains" max_steps steps (sleeping step_seconds each, printing `step N loss X`), saves
`<output_dir>/checkpoint-N/` every save_steps with trainer_state.json written LAST (so a save cut
short leaves an incomplete checkpoint, as with Hugging Face), resumes from a checkpoint's
global_step, and writes `<output_dir>/final_model.json` when done.

Knobs for tests (environment):
    TINY_FAIL_AT_STEP=n       exit 1 at step n
    TINY_CUT_SAVE_AT_STEP=n   die by SIGKILL in the middle of the save at step n
    TINY_STALL_AT_STEP=n      after step n (and its save), hang until killed: a run that stays alive
    TINY_DATA_FILE=path       overrides the config's data_file
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tb_events import EventWriter  # noqa: E402

DEFAULTS = {"max_steps": 30, "save_steps": 10, "step_seconds": 0.1, "logging_steps": 5,
            "logging_dir": None, "data_file": None}


def parse_scalar(text: str):
    """A YAML scalar as the flat configs here use them."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("null", "~", ""):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def load_config(path: str) -> dict:
    """`key: value` lines with # comments: enough YAML for a flat training config."""
    config = dict(DEFAULTS)
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            line = raw.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition(":")
            if not sep:
                raise SystemExit("%s:%d: expected `key: value`" % (path, number))
            config[key.strip()] = parse_scalar(value)
    if not config.get("output_dir"):
        raise SystemExit("%s: output_dir is required" % path)
    return config


def load_data(config: dict) -> list:
    path = os.environ.get("TINY_DATA_FILE") or config.get("data_file")
    if not path:
        return []
    try:
        with open(path, encoding="utf-8") as f:
            return [line for line in f.read().splitlines() if line.strip()]
    except OSError as exc:
        print("tiny: cannot read data file %s: %s" % (path, exc.strerror), file=sys.stderr)
        raise SystemExit(2)


def resume_step(checkpoint: str | None) -> int:
    """The global_step stored in a checkpoint's trainer_state.json (0 when starting fresh)."""
    if not checkpoint:
        return 0
    try:
        with open(os.path.join(checkpoint, "trainer_state.json"), encoding="utf-8") as f:
            return int(json.load(f)["global_step"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print("tiny: cannot resume from %s: %s" % (checkpoint, exc), file=sys.stderr)
        raise SystemExit(2)


def loss_at(step: int) -> float:
    return 2.5 / (1.0 + 0.15 * step) + 0.02 * math.sin(step)


def write_json(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(output_dir: str, step: int, config: dict, history: list, cut: bool) -> None:
    """Model and optimizer first, trainer_state.json last: a save cut short stays incomplete."""
    folder = os.path.join(output_dir, "checkpoint-%d" % step)
    os.makedirs(folder, exist_ok=True)
    write_json(os.path.join(folder, "model.json"), {"weights": [loss_at(step)] * 4})
    write_json(os.path.join(folder, "optimizer.json"), {"lr": 1e-4, "step": step})
    if cut:
        print("tiny: dying in the middle of saving checkpoint-%d (TINY_CUT_SAVE_AT_STEP)" % step, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    write_json(os.path.join(folder, "trainer_state.json"), {
        "global_step": step, "max_steps": config["max_steps"], "save_steps": config["save_steps"],
        "log_history": history[-20:], "best_metric": None,
    })
    print("tiny: saved checkpoint-%d" % step, flush=True)


def env_int(name: str) -> int:
    try:
        return int(os.environ.get(name, "0"))
    except ValueError:
        return 0


def train(config: dict, checkpoint: str | None) -> int:
    data = load_data(config)
    start = resume_step(checkpoint)
    max_steps, save_steps = int(config["max_steps"]), int(config["save_steps"])
    fail_at, cut_at = env_int("TINY_FAIL_AT_STEP"), env_int("TINY_CUT_SAVE_AT_STEP")
    stall_at = env_int("TINY_STALL_AT_STEP")
    how = "resuming from %s at step %d" % (checkpoint, start) if checkpoint else "starting fresh"
    print("tiny: %s; %d data lines; max_steps %d" % (how, len(data), max_steps), flush=True)
    logging_dir = config.get("logging_dir")
    writer = EventWriter(logging_dir) if logging_dir else None
    history = []
    for step in range(start + 1, max_steps + 1):
        time.sleep(float(config["step_seconds"]))
        loss = loss_at(step)
        print("step %d loss %.4f" % (step, loss), flush=True)
        history.append({"step": step, "loss": round(loss, 4)})
        if writer and step % int(config["logging_steps"] or 1) == 0:
            writer.scalar("train/loss", loss, step)
        if step == fail_at:
            print("tiny: failing at step %d (TINY_FAIL_AT_STEP)" % step, flush=True)
            return 1
        if step % save_steps == 0:
            save_checkpoint(config["output_dir"], step, config, history, cut=step == cut_at)
        if step == stall_at:
            print("tiny: stalling after step %d (TINY_STALL_AT_STEP)" % step, flush=True)
            while True:
                time.sleep(3600)
    write_json(os.path.join(config["output_dir"], "final_model.json"),
               {"global_step": max_steps, "final_loss": loss_at(max_steps)})
    print("tiny: training complete at step %d" % max_steps, flush=True)
    return 0


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--resume_from_checkpoint", default=None)
    args = parser.parse_args(argv)
    config = load_config(args.config)
    os.makedirs(config["output_dir"], exist_ok=True)
    return train(config, args.resume_from_checkpoint)


if __name__ == "__main__":
    sys.exit(main())

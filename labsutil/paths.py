"""Where things live (repository, cache, runs) and the offline, no-telemetry environment."""
from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

# Set before any Hugging Face / LangChain / ragas import reads them.
_ALWAYS = {
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "DO_NOT_TRACK": "1",
    "RAGAS_DO_NOT_TRACK": "true",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGSMITH_TRACING": "false",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}
_OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def online_opt_in() -> bool:
    """LABS_ONLINE=1 lets the Hugging Face libraries reach the hub (e.g. for the gpu profile's model)."""
    return os.environ.get("LABS_ONLINE", "0").lower() in ("1", "true", "yes")


def apply_environment() -> None:
    """Offline and telemetry-free unless the user opted in; a value the user exported wins."""
    for key, value in _ALWAYS.items():
        os.environ.setdefault(key, value)
    if not online_opt_in():
        for key, value in _OFFLINE.items():
            os.environ.setdefault(key, value)
    _quiet_torchao()
    _yield_cores_when_busy()
    if os.environ.get("LABS_NO_NETWORK") == "1":
        from .netcut import install_socket_guard

        install_socket_guard()


BUSY_CORES = 0.5  # other processes using at least this much CPU at start: the machine is shared


def other_processes_cores(window_s: float = 0.25) -> float:
    """CPU cores in use by other processes over a short window (this process's own use subtracted)."""
    import psutil

    me = psutil.Process()
    me.cpu_percent(None)  # the first call starts both counters
    psutil.cpu_percent(None)
    time.sleep(window_s)
    total = psutil.cpu_percent(None) / 100 * (os.cpu_count() or 1)
    return max(0.0, total - me.cpu_percent(None) / 100)


def _yield_cores_when_busy() -> None:
    """On a machine another process keeps busy, torch's OpenMP threads wait passively (sleep) instead of spinning.

    Measured (`python -m labsutil contention`, 2 cores, a busy process beside): a generation job took 3.2x its
    quiet time with torch's defaults, 1.8x with OMP_WAIT_POLICY=PASSIVE; on a quiet machine PASSIVE costs ~11%, so
    it is set only when the machine is busy when labsutil is imported (before torch starts OpenMP). A value the
    user exported wins; LABS_CONTENTION_CHECK=0 turns the check off.
    """
    import sys

    if "torch" in sys.modules or "OMP_WAIT_POLICY" in os.environ or os.environ.get("LABS_CONTENTION_CHECK") == "0":
        return
    busy = other_processes_cores()
    if busy >= BUSY_CORES:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        os.environ["LABS_CONTENTION"] = (f"{busy:.1f} core(s) busy with other processes at start: "
                                         "OMP_WAIT_POLICY=PASSIVE (torch's threads sleep while they wait)")


def _quiet_torchao() -> None:
    """transformers imports torchao (lab 08's int8 route) whenever it is installed; on a CPU torchao then logs that
    its GPU-only kernels failed to load and torch warns about its enum registrations, in every lab. Neither
    concerns a CPU run: keep their warnings out of the notebooks (errors still show)."""
    import logging

    for name in ("torchao", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.ERROR)


def repo_root() -> Path | None:
    """The course checkout when labsutil is installed editable from it, else None."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() and (here / "labs").is_dir() else None


def cache_dir() -> Path:
    """Converted models, indexes, adapters: $LABS_CACHE_DIR, else <repo>/.cache, else ~/.cache/labsutil."""
    if os.environ.get("LABS_CACHE_DIR"):
        return Path(os.environ["LABS_CACHE_DIR"]).expanduser().resolve()
    root = repo_root()
    return root / ".cache" if root else Path.home() / ".cache" / "labsutil"


def runs_dir() -> Path:
    root = repo_root()
    return (root if root else Path.cwd()) / "runs"


def run_dir(value: str | None) -> Path:
    """The run folder: the parameter, else $LABS_RUN_DIR (set by the runner), else runs/interactive."""
    chosen = value or os.environ.get("LABS_RUN_DIR")
    return Path(chosen).expanduser().resolve() if chosen else runs_dir() / "interactive"


def data_dir() -> Path:
    root = repo_root()
    return (root if root else Path.cwd()) / "data"


@contextmanager
def atomic_folder(folder: str | Path):
    """Yield a temporary sibling of `folder` to write into; on success it replaces `folder` in one rename,
    so a reader (or an interrupted run) never sees a half-written folder. On error it is removed."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{time.time_ns()}"
    tmp.mkdir()
    try:
        yield tmp
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)

"""Environment checks and speed measurements (model conversion, loading, decode throughput)."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import tempfile
import time
from pathlib import Path

from . import models

LIBRARIES = ("torch", "transformers", "peft", "trl", "sentence-transformers", "faiss-cpu", "langchain",
             "langchain-community", "ragas", "papermill", "networkx", "labsutil")

THROUGHPUT_PROMPTS = (
    "Describe a supply agreement.", "What does a liability cap do?", "Explain governing law.",
    "Write about renewal terms.", "What is an NDA for?", "Describe a lease.",
    "What is exclusivity in a contract?", "Explain payment terms.",
)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, str]:
    """What this machine offers the labs: versions, threads, memory, accelerator."""
    import psutil
    import torch

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpu cores (logical)": str(os.cpu_count()),
        "torch threads": str(torch.get_num_threads()),
        "memory total (GiB)": f"{psutil.virtual_memory().total / 2**30:.1f}",
        "memory available (GiB)": f"{psutil.virtual_memory().available / 2**30:.1f}",
        "GPU": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU only)",
        "offline (HF_HUB_OFFLINE)": os.environ.get("HF_HUB_OFFLINE", "unset"),
    }
    info.update({f"version {name}": _version(name) for name in LIBRARIES})
    return info


def time_fresh_conversion() -> float:
    """Convert the packaged GGUF once more into a throw-away folder: what a newcomer's first run costs."""
    with tempfile.TemporaryDirectory() as tmp:
        return models.convert_gguf(models.smollm2_gguf(), Path(tmp) / "model")


def decode_throughput(llm, batch_size: int, new_tokens: int, prompts=THROUGHPUT_PROMPTS, repeats: int = 3) -> dict:
    """Tokens per second decoding `new_tokens` for `batch_size` prompts at once (greedy, fixed length).

    The best of `repeats` runs is kept, as benchmarks do: a run can only be slowed down by other
    work on the machine, never sped up, so the fastest one is the closest to the true speed.
    """
    chosen = [prompts[i % len(prompts)] for i in range(batch_size)]
    llm.generate(chosen[:1], max_new_tokens=2, progress=False)  # warm-up: first call allocates
    best = None
    for _ in range(repeats):
        start = time.perf_counter()
        gens = llm.generate(chosen, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                            batch_size=batch_size, progress=False)
        seconds = time.perf_counter() - start
        best = seconds if best is None else min(best, seconds)
    tokens = sum(g.tokens_out for g in gens)
    return {"batch_size": batch_size, "tokens_out": tokens, "seconds": round(best, 3),
            "tokens_per_s": round(tokens / best, 2), "repeats": repeats}


def timed(fn, *args, **kwargs):
    """(result, seconds) of one call."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, round(time.perf_counter() - start, 3)


def plot_throughput(results: list[dict]):
    """Bars of tokens/s and seconds per request for each measured batch size."""
    import matplotlib.pyplot as plt

    labels = [f"batch {r['batch_size']}" for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.bar(labels, [r["tokens_per_s"] for r in results], color=["#999", "#2a7"][: len(results)])
    left.set_title("decode throughput (tokens/s, higher is better)")
    right.bar(labels, [r["seconds"] for r in results], color=["#999", "#c63"][: len(results)])
    right.set_title("wall time of the call (s): every request waits for it")
    fig.tight_layout()
    return fig

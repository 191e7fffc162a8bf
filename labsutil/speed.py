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
        "OpenMP wait policy": os.environ.get("LABS_CONTENTION") or os.environ.get("OMP_WAIT_POLICY")
        or "default (the machine was quiet at start)",
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


# --------------------------------------------------------------------------- answering speed (the bench)

#: The answering paths the bench compares: (name, dtype, batch size, bucket by token length).
#: "today" is the path every lab used before the bench existed: fp32, batches of 8 in character-length order.
BENCH_PATHS = (("today_fp32_b8", "float32", 8, False), ("fp32_b32", "float32", 32, True),
               ("fp32_b64", "float32", 64, True), ("bf16_b32", "bfloat16", 32, True),
               ("bf16_b64", "bfloat16", 64, True))
# The vLLM CPU engine (`make vllm`): every prompt in one request, batched continuously by the engine
ENGINE_PATHS = (("vllm_cpu_fp32", "float32"), ("vllm_cpu_bf16", "bfloat16"))


def native_bf16() -> tuple[bool, str]:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), and the evidence, in words.

    Without it torch emulates bf16 and it can be slower than fp32: decide by capability, not habit.
    """
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return False, "cannot read /proc/cpuinfo: assuming no native bf16"
    found = sorted(flags & {"avx512_bf16", "amx_bf16"})
    return bool(found), ("CPU flags " + ", ".join(found)) if found else "no avx512_bf16 / amx_bf16 CPU flag"


def rag_bench_prompts(dataset_dir, n: int, *, k: int = 3, chunk_size: int = 500, chunk_overlap: int = 50,
                      embedder: str = models.MINILM, seed: int = 0):
    """Lab 02's real RAG prompts (top-k chunks + grounded instruction) for n stratified test questions."""
    from . import data
    from .rag import pipeline, retrieval

    ds = data.load_dataset(dataset_dir)
    # verbose=False: the bench reports speed and overall agreement, not per-type accuracy
    _, _, questions = pipeline.pick_questions(ds, ["single_hop", "multi_hop", "comparison"], n, seed, verbose=False)
    index = retrieval.load_or_build_index(ds.corpus, chunk_size=chunk_size, chunk_overlap=chunk_overlap,
                                          embedder=embedder)
    hits = index.search([q.question for q in questions], k)
    return questions, [pipeline.grounded_prompt(q.question, [h.chunk for h in hs]) for q, hs in zip(questions, hits)]


def answer_rate(llm, prompts: list[str], *, batch_size: int, bucket: bool, max_new_tokens: int,
                repeats: int = 2) -> dict:
    """Answers per second for the prompts on one path; the best of `repeats` runs (noise only slows a run).

    Without bucketing the prompts go in character-length order, as `rag.pipeline.generate` sent them.
    """
    from .rag import pipeline

    order = list(range(len(prompts))) if bucket else sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    best, gens = None, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = llm.generate([prompts[i] for i in order], max_new_tokens=max_new_tokens, system=pipeline.SYSTEM,
                           batch_size=batch_size, bucket=bucket, progress=False)
        seconds = time.perf_counter() - start
        if best is None or seconds < best:
            best = seconds
        gens = [None] * len(prompts)
        for i, g in zip(order, out):
            gens[i] = g
    return {"seconds": round(best, 3), "answers_per_s": round(len(prompts) / best, 3), "generations": gens}


def prefill_seconds(llm, prompts: list[str], *, batch_sizes=(1, 8), repeats: int = 2) -> dict:
    """The fastest time to only *read* the prompts (no token generated), over `batch_sizes` and `repeats`.

    Every answering path must read its prompts first, so no torch path on this model, dtype and machine answers
    faster than this: today's seconds over these seconds is the ceiling of any torch speed-up (an engine with
    other kernels, such as vLLM's, is not bound by it). Larger batches are not tried: padding and activations
    that leave the cache make them read more slowly (measured).
    """
    from .rag import pipeline

    best = None
    for batch in batch_sizes:
        for _ in range(repeats):
            start = time.perf_counter()
            llm.prefill(prompts, system=pipeline.SYSTEM, batch_size=batch)
            seconds = time.perf_counter() - start
            if best is None or seconds < best["seconds"]:
                best = {"batch_size": batch, "seconds": round(seconds, 3)}
    return best


def _add_ceilings(rows: list[dict], loaded: dict, prompts: list[str], repeats: int) -> None:
    """Each row gets its dtype's prefill-only time and the speed-up over today that it allows at most."""
    today_seconds = rows[0]["seconds"]
    for dtype, llm in loaded.items():
        floor = prefill_seconds(llm, prompts, repeats=repeats)
        for row in rows:  # torch's prefill bounds torch's paths only; another engine has other kernels
            if (row["backend"], row["dtype"]) == ("transformers", dtype):
                row["prefill_seconds"] = floor["seconds"]
                row["ceiling_speedup_vs_today"] = round(today_seconds / floor["seconds"], 3)


def bench_answering(dataset_dir, *, n: int = 48, k: int = 3, max_new_tokens: int = 32, repeats: int = 2,
                    model: str = models.SMOLLM2, paths=BENCH_PATHS, include_bf16: bool | None = None,
                    ceiling: bool = False, engines: bool | None = None) -> list[dict]:
    """Answers per second on lab 02's RAG prompts for each path, with accuracy, agreement and reproducibility.

    Every path answers the same prompts in the same run, so the speed-ups are measured side by side. bf16 paths
    run only where the CPU has native bf16 (or when `include_bf16` forces them); each bf16 path is run twice
    to check that its answers reproduce exactly. `ceiling` also times reading the prompts without answering
    (`prefill_seconds`), per dtype: the speed-up over today that no batching or scheduling can exceed.
    `engines` adds the vLLM CPU engine's paths (`ENGINE_PATHS`; default: where `make vllm` installed it).
    """
    from . import stats, vllm_cpu
    from .llm import LLM

    bf16_ok, bf16_why = native_bf16()
    include_bf16 = bf16_ok if include_bf16 is None else include_bf16
    engines = vllm_cpu.available() if engines is None else engines
    questions, prompts = rag_bench_prompts(dataset_dir, n, k=k)
    loaded: dict[str, LLM] = {}
    rows, reference = [], {}
    run = dict(questions=questions, prompts=prompts, max_new_tokens=max_new_tokens, repeats=repeats,
               reference=reference, bf16=(bf16_ok, bf16_why))
    for name, dtype, batch, bucket in paths:
        if dtype == "bfloat16" and not include_bf16:
            continue
        llm = loaded.setdefault(dtype, LLM(model, dtype=dtype))
        rows.append(_bench_path(llm, name, dtype, batch, bucket, **run))
    for name, dtype in ENGINE_PATHS if engines else ():
        if dtype == "bfloat16" and not include_bf16:
            continue
        llm = LLM(model, backend="vllm-cpu", dtype=dtype)
        try:
            row = _bench_path(llm, name, dtype, None, True, **run)
        finally:
            llm.close()  # the next engine needs the memory
        rows.append({**row, "engine_start_s": round(llm.load_seconds, 1)})
    for row in rows:  # answers of one backend and dtype at two batch sizes: does the batch change them?
        twins = [r for r in rows if (r["backend"], r["dtype"]) == (row["backend"], row["dtype"])
                 and r is not row and r["bucketed"]]
        if twins and row["bucketed"]:
            row["same_answers_other_batch"] = stats.proportion(a == b for a, b in zip(row["texts"], twins[0]["texts"]))
    if ceiling and rows:
        _add_ceilings(rows, loaded, prompts, repeats)
    return rows


def _bench_path(llm, name: str, dtype: str, batch: int | None, bucket: bool, *, questions, prompts, max_new_tokens,
                repeats, reference: dict, bf16: tuple[bool, str]) -> dict:
    """One bench row: the path's speed, its accuracy, and its answers against the first path's (today's)."""
    from . import stats
    from .rag import pipeline

    rate = answer_rate(llm, prompts, batch_size=batch, bucket=bucket, max_new_tokens=max_new_tokens,
                       repeats=repeats)
    texts = [g.text for g in rate["generations"]]
    correct = [pipeline.is_correct(q, t) for q, t in zip(questions, texts)]
    if not reference:
        reference.update(name=name, texts=texts, correct=correct, rate=rate["answers_per_s"])
    row = {"path": name, "backend": llm.backend_name, "dtype": dtype, "batch_size": batch, "bucketed": bucket,
           "n": len(prompts), "seconds": rate["seconds"], "answers_per_s": rate["answers_per_s"],
           "speedup_vs_today": round(rate["answers_per_s"] / reference["rate"], 3),
           "accuracy": stats.proportion(correct),
           "identical_to_today": stats.proportion(a == b for a, b in zip(texts, reference["texts"])),
           "vs_today": stats.paired_binary(reference["correct"], correct, names=(reference["name"], name)),
           "bf16_native": bf16[0], "bf16_evidence": bf16[1], "texts": texts}
    if dtype == "bfloat16" or llm.backend_name != "transformers":  # the same path again: identical answers?
        again = answer_rate(llm, prompts, batch_size=batch, bucket=bucket, max_new_tokens=max_new_tokens,
                            repeats=1)
        row["reproducible"] = all(a.text == b for a, b in zip(again["generations"], texts))
    return row


def bench_ledger_rows(cfg, rows: list[dict]) -> None:
    """One ledger row per bench path (lab 00, variant `bench/<path>`)."""
    from . import ledger

    for r in rows:
        metrics = {"answers_per_s": r["answers_per_s"], "speedup_vs_today": r["speedup_vs_today"],
                   **r["accuracy"].metrics("accuracy"),
                   **r["identical_to_today"].metrics("identical_to_today", headline=False),
                   **r["vs_today"].metrics("vs_today")}
        if "reproducible" in r:
            metrics["reproducible"] = float(r["reproducible"])
        if "ceiling_speedup_vs_today" in r:
            metrics.update(prefill_seconds=r["prefill_seconds"], ceiling_speedup_vs_today=r["ceiling_speedup_vs_today"])
        if "same_answers_other_batch" in r:
            metrics.update(r["same_answers_other_batch"].metrics("same_answers_other_batch", headline=False))
        if "engine_start_s" in r:
            metrics["engine_start_s"] = r["engine_start_s"]
        ledger.record(cfg, f"bench/{r['path']}", metrics,
                      params={k: r[k] for k in ("backend", "dtype", "batch_size", "bucketed", "bf16_native",
                                                "bf16_evidence")})


def bench_table(rows: list[dict]):
    """The bench as a table: speed, speed-up, accuracy with its interval, agreement with today's answers."""
    import pandas as pd

    return pd.DataFrame([{"path": r["path"], "answers/s": r["answers_per_s"], "speed-up": r["speedup_vs_today"],
                          "accuracy": str(r["accuracy"]), "identical to today": str(r["identical_to_today"]),
                          "vs today (paired)": str(r["vs_today"]), "reproducible": r.get("reproducible", ""),
                          **({"ceiling (prefill only)": r["ceiling_speedup_vs_today"]}
                             if "ceiling_speedup_vs_today" in r else {})}
                         for r in rows]).set_index("path")


def engine_note(rows: list[dict]) -> str:
    """What the bench says about the optional vLLM CPU engine: its speed-ups and reproducibility, or how to add it."""
    engine = [r for r in rows if r.get("backend") == "vllm-cpu"]
    if not engine:
        return "vLLM's CPU engine is not installed: `make vllm` (Linux x86_64) adds its paths to this bench"
    parts = [f"{r['dtype']} {r['speedup_vs_today']:.1f}x, {r['identical_to_today']} identical to today's answers, "
             f"{'reproducible' if r.get('reproducible') else 'NOT reproducible'} on a rerun" for r in engine]
    return ("vLLM's CPU engine (labs 02-04 answer on it where installed; another lab that only generates can, with "
            "-p backend vllm-cpu): " + "; ".join(parts))


def recommend_dtype(rows: list[dict]) -> tuple[str, str]:
    """bf16 or fp32 for answering on this machine, from a bench run, with the reason in words.

    bf16 only where the CPU has it natively AND it is faster AND its accuracy is not shown to be lower than
    fp32's (paired comparison) AND its answers reproduce exactly on a rerun; otherwise fp32, whose greedy
    answers do not depend on the batch.
    """
    rows = [r for r in rows if r.get("backend", "transformers") == "transformers"]  # the engine is an opt-in
    fp32 = [r for r in rows if r["dtype"] == "float32"]
    bf16 = [r for r in rows if r["dtype"] == "bfloat16"]
    if not bf16:
        why = rows[0]["bf16_evidence"] if rows else "no bench rows"
        return "float32", f"bf16 was not measured ({why}): fp32"
    best32 = max(fp32, key=lambda r: r["answers_per_s"])
    best16 = max(bf16, key=lambda r: r["answers_per_s"])
    loss = best16["vs_today"].ci_high < 0  # the whole interval of (bf16 - fp32 today) below zero
    problems = [text for bad, text in (
        (best16["answers_per_s"] <= best32["answers_per_s"], "it is not faster than fp32"),
        (loss, f"it loses accuracy ({best16['vs_today']})"),
        (not best16.get("reproducible", False), "its answers do not reproduce exactly on a rerun"))
        if bad]
    if problems:
        return "float32", "fp32: bf16 " + "; ".join(problems)
    return "bfloat16", (f"bf16 ({best16['bf16_evidence']}): {best16['answers_per_s'] / best32['answers_per_s']:.1f}x "
                        f"the best fp32 path, accuracy not shown to differ ({best16['vs_today']}), "
                        f"answers reproducible; but {best16['identical_to_today']} of answers identical to fp32's")

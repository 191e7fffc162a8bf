"""One benchmark harness for every variant: the same prompts, the same token counts, the same measurements.

Speed (`measure_speed`): `speed_prompts` of lab 02's RAG prompts decoded to exactly `new_tokens` tokens at the
variant's batch size, the best of `repeats` runs (other work on the machine only slows a run down). Reported:
tokens/s (all generated tokens over the wall time, prefill included), decode tokens/s (after the first token)
and prefill (prompt) tokens/s, time to first token (median over the
requests of the kept run: under batching a request's first token waits for its whole batch's prefill), latency
p50/p95 per request (under
batching every request waits for its batch) and the peak resident memory of the process during the run.

Quality (`measure_quality`): the same `n` test questions answered (stopping at the end of sequence) and scored
as in lab 02 (accuracy with its Wilson interval), the share of answers identical to the fp32 greedy answers, and
perplexity on held-out domain text. Variants that serve the same weights differently (a batch size, a draft
model, prompt lookup) share their model's quality; the lossless ones are checked against it (`identical`).
"""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import Sequence

from .. import stats
from ..evaluate import PeakMemory


def _cycle(prompts: Sequence[str], count: int) -> list[str]:
    return [prompts[i % len(prompts)] for i in range(count)]


def split_phases(gens) -> dict:
    """Prefill (prompt) and decode rates from the generations of one run.

    The requests of one batch share its wall time and its first-token time, so the batches are recovered from
    those; a batch's prefill is its time to first token (its prompt tokens processed), its decode the rest (every
    token after the first). On a CPU with RAG prompts of a few hundred tokens the prefill is compute-bound and
    often most of a short answer's time: batching speeds up decoding, not the prompts.
    """
    batches: dict[tuple, list] = {}
    for g in gens:
        if g.first_token_s is None:
            return {"decode_tokens_per_s": None, "prefill_tokens_per_s": None}
        batches.setdefault((g.latency_s, g.first_token_s), []).append(g)
    decode_tokens = sum(sum(g.tokens_out for g in b) - len(b) for b in batches.values())
    decode_seconds = sum(lat - first for lat, first in batches)
    prompt_tokens = sum(sum(g.tokens_in for g in b) for b in batches.values())
    prefill_seconds = sum(first for _, first in batches)
    return {"decode_tokens_per_s": round(decode_tokens / decode_seconds, 2) if decode_seconds > 0 else None,
            "prefill_tokens_per_s": round(prompt_tokens / prefill_seconds, 1) if prefill_seconds > 0 else None}


def _percentile(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) if len(values) else float("nan")


def measure_speed(engine, prompts: Sequence[str], *, new_tokens: int, batch_size: int, repeats: int = 2) -> dict:
    """Fixed-length decoding of max(len(prompts), batch_size) prompts at `batch_size`; the best run kept."""
    chosen = _cycle(prompts, max(len(prompts), batch_size))
    gc.collect()
    engine.generate(chosen[:1], max_new_tokens=2, batch_size=1)  # warm-up: the first call allocates
    best = None
    with PeakMemory() as memory:
        for _ in range(repeats):
            start = time.perf_counter()
            gens = engine.generate(chosen, max_new_tokens=new_tokens, fixed=True, batch_size=batch_size)
            seconds = time.perf_counter() - start
            if best is None or seconds < best[0]:
                best = (seconds, gens)
    seconds, gens = best
    firsts = [g.first_token_s for g in gens if g.first_token_s is not None]
    first = _percentile(firsts, 50) if firsts else float("nan")
    phases = split_phases(gens)
    tokens = sum(g.tokens_out for g in gens)
    latencies = [g.latency_s for g in gens]
    return {"tokens_per_s": round(tokens / seconds, 2), "tokens_out": tokens, "seconds": round(seconds, 3),
            "decode_tokens_per_s": phases["decode_tokens_per_s"], "prefill_tokens_per_s": phases["prefill_tokens_per_s"],
            "ttft_s": round(first, 4), "latency_p50_s": round(_percentile(latencies, 50), 3),
            "latency_p95_s": round(_percentile(latencies, 95), 3), "peak_rss_mb": memory.mb,
            "prompts": len(chosen), "batch_size": batch_size, "new_tokens": new_tokens, "repeats": repeats,
            "texts": [g.text for g in gens]}


@dataclass
class Quality:
    """A model's answers on the evaluation questions and what they score."""

    texts: list[str]
    correct: list[bool]
    accuracy: stats.Estimate
    identical: stats.Estimate | None = None  # share of answers identical to the fp32 greedy answers
    perplexity: float = float("nan")
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def measure_quality(engine, questions: Sequence, prompts: Sequence[str], *, max_new_tokens: int,
                    reference: Quality | None = None, heldout_texts: Sequence[str] = ()) -> Quality:
    """Answers to the questions (greedy, stopping at the end of sequence, at the engine's own batch size) scored
    as in lab 02."""
    from ..rag import pipeline

    start = time.perf_counter()
    gens = engine.generate(list(prompts), max_new_tokens=max_new_tokens)
    seconds = time.perf_counter() - start
    texts = [g.text for g in gens]
    correct = [pipeline.is_correct(q, t) for q, t in zip(questions, texts)]
    quality = Quality(texts, correct, stats.proportion(correct), seconds=round(seconds, 2),
                      extra={"tokens_in": sum(g.tokens_in for g in gens), "tokens_out": sum(g.tokens_out for g in gens),
                             "latencies": [g.latency_s for g in gens],
                             "batch_size": engine.batch_size})
    if reference is not None:
        quality.identical = same_answers(texts, reference.texts)
    if heldout_texts:
        quality.perplexity = engine.perplexity(heldout_texts)
    return quality


def same_answers(texts: Sequence[str], reference: Sequence[str]) -> stats.Estimate:
    """Share of identical texts (a lossless serving method must reach 100%)."""
    return stats.proportion(a == b for a, b in zip(texts, reference))

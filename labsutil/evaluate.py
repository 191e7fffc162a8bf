"""Answer-quality and cost measurements shared by every lab."""
from __future__ import annotations

import math
import re
import resource
import string
import sys
import threading
from collections import Counter
from typing import Iterable, Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans({c: " " for c in string.punctuation})
_PUNCT_DELETE = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str, *, delete_punctuation: bool = False) -> str:
    """SQuAD-style normalisation: lower case, no punctuation or articles, single spaces.

    By default punctuation becomes a space, so "Smith-Jones" contains the word "Jones";
    `delete_punctuation=True` drops it as the official SQuAD script does ("8,000,000" -> "8000000").
    """
    text = str(text).lower().translate(_PUNCT_DELETE if delete_punctuation else _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def contains_answer(prediction: str, answer: str, aliases: Iterable[str] = ()) -> bool:
    """True if the normalised answer or any alias stands in the prediction as whole words."""
    haystack = f" {normalize_answer(prediction)} "
    for candidate in [answer, *aliases]:
        needle = normalize_answer(candidate)
        if needle and f" {needle} " in haystack:
            return True
    return False


def exact_match(prediction: str, answer: str, aliases: Iterable[str] = ()) -> bool:
    pred = normalize_answer(prediction)
    return any(pred == normalize_answer(c) for c in [answer, *aliases] if normalize_answer(c))


def token_f1(prediction: str, answer: str, aliases: Iterable[str] = ()) -> float:
    """SQuAD v1.1 token F1: harmonic mean of token precision and recall, best over answer and aliases.

    Tokens come from `normalize_answer(..., delete_punctuation=True)`, the official script's
    normalisation, so "8,500,000" shares no token with "8,000,000". As in v1.1, an empty
    prediction or answer scores 0 (SQuAD 2.0 would give 1 when both are empty).
    """
    predicted = normalize_answer(prediction, delete_punctuation=True).split()
    best = 0.0
    for candidate in [answer, *aliases]:
        gold = normalize_answer(candidate, delete_punctuation=True).split()
        same = sum((Counter(predicted) & Counter(gold)).values())
        if same:
            precision, recall = same / len(predicted), same / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def mean(values: Iterable[float]) -> float:
    values = list(values)
    return float(sum(values) / len(values)) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), q in [0, 100]."""
    data = sorted(values)
    if not data:
        return float("nan")
    pos = (len(data) - 1) * q / 100.0
    low, high = math.floor(pos), math.ceil(pos)
    return float(data[low] + (data[high] - data[low]) * (pos - low))


class PeakMemory:
    """The process's peak resident memory (MB) while the block runs, sampled every 20 ms; `added_mb`: that peak
    above the memory the process held when the block began (what the block itself needed, give or take memory
    the allocator kept from earlier work)."""

    def __enter__(self):
        import psutil

        self._process = psutil.Process()
        self.start = self.peak = self._process.memory_info().rss
        _reset_gpu_peak()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)
        self.mb = round(self.peak / 2**20, 1)
        self.added_mb = round((self.peak - self.start) / 2**20, 1)


def _reset_gpu_peak() -> None:
    torch = sys.modules.get("torch")  # only when torch is in use already: importing it costs seconds
    if torch is not None and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def memory_metrics(memory: PeakMemory) -> dict:
    """The ledger field of a training run's memory: the peak resident memory while it ran, or on a GPU the device's
    peak allocation during the run when that is larger. It includes what the process held before (the models a
    notebook keeps loaded)."""
    peak = memory.mb
    try:
        import torch
        if torch.cuda.is_available():
            peak = max(peak, round(torch.cuda.max_memory_allocated() / 2**20, 1))
    except ImportError:
        pass
    return {"peak_mem_mb": peak}


def peak_mem_mb() -> float:
    """Peak resident memory of this process so far (and of the GPU when one is used)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mb = peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # macOS reports bytes
    try:
        import torch
        if torch.cuda.is_available():
            mb = max(mb, torch.cuda.max_memory_allocated() / 2**20)
    except ImportError:
        pass
    return round(mb, 1)


def cost_of(generations: Sequence, *, train_seconds: float | None = None) -> dict:
    """The ledger's `cost` block for a list of Generation results."""
    latencies = [g.latency_s for g in generations]
    return {
        "tokens_in": int(sum(g.tokens_in for g in generations)),
        "tokens_out": int(sum(g.tokens_out for g in generations)),
        "latency_p50_s": round(percentile(latencies, 50), 4) if latencies else None,
        "latency_p95_s": round(percentile(latencies, 95), 4) if latencies else None,
        "train_seconds": None if train_seconds is None else round(train_seconds, 2),
        "peak_mem_mb": peak_mem_mb(),
    }


def choose(llm, question: str, choices: Sequence[str], *, system: str | None = None,
           length_normalized: bool = False) -> int:
    """Multiple choice by log-likelihood: the option the model finds most probable after the question."""
    scores = llm.loglikelihood(question, [f" {c}".lstrip() for c in choices], system=system)
    if length_normalized:
        scores = [s / max(1, llm.count_tokens(c)) for s, c in zip(scores, choices)]
    return max(range(len(choices)), key=lambda i: scores[i])


def choose_many(llm, items: Sequence[tuple[str, Sequence[str]]], *, system: str | None = None,
                batch_size: int = 32) -> list[int]:
    """`choose` for many (question, choices) at once: the same answers, scored in batches across questions."""
    requests = [(question, [f" {c}".lstrip() for c in choices]) for question, choices in items]
    if hasattr(llm, "loglikelihood_many"):
        scores = llm.loglikelihood_many(requests, system=system, batch_size=batch_size)
    else:  # any object with the one-prompt `loglikelihood` (e.g. a test double)
        scores = [llm.loglikelihood(question, conts, system=system) for question, conts in requests]
    return [max(range(len(s)), key=lambda i: s[i]) for s in scores]


def multiple_choice_prompt(question: str, choices: Sequence[str]) -> str:
    letters = "ABCD"
    lines = [question, ""] + [f"{letters[i]}. {c}" for i, c in enumerate(choices)] + ["", "Answer:"]
    return "\n".join(lines)

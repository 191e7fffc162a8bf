"""Lab 07's steps from its config: questions, training runs, scored variants as ledger rows, plots, takeaways.

Ledger rows (lab "07"): `<model>/<setting>` for model in base, dsf, raft_p<P>, raft_quote and setting in
closed_book, rag (top-k retrieved chunks), oracle_d<d> (the oracle among d hard distractors, on a seeded sample
of `robust_n` test questions per type) and unanswerable (retrieved chunks, questions the corpus does not answer: the accuracy is the abstention rate);
`train/<model>` for each training run (examples, oracle share, leakage checks, train seconds).
"""
from __future__ import annotations

from typing import Sequence

from .. import evaluate, ledger, stats
from ..llm import precision_params
from . import raft

def p_label(p: float) -> str:
    return f"raft_p{round(100 * p)}"


def pick(ds, types: Sequence[str], per_type: int | None, seed: int, split: str) -> list:
    """Questions of each type present in the split, `per_type` of each (seeded, file order); absent types noted."""
    out = []
    for qtype in types:
        items = ds.questions(split=split, types=[qtype])
        if not items:
            print(f"note: no {split} questions of type {qtype!r} in this dataset: skipped")
            continue
        out.extend(sample_per_type(items, per_type, seed))
    return out


def sample_per_type(questions: Sequence, per_type: int | None, seed: int) -> list:
    """A seeded sample of `per_type` of each type's questions, in their order (None: all of them). A sample, not
    the first ones: a dataset's file order may follow how its questions were made."""
    import random

    if per_type is None:
        return list(questions)
    keep = set()
    for qtype in dict.fromkeys(q.type for q in questions):
        positions = [i for i, q in enumerate(questions) if q.type == qtype]
        keep.update(random.Random(seed).sample(positions, min(per_type, len(positions))))
    return [q for i, q in enumerate(questions) if i in keep]


def _rows(cfg) -> list[dict]:
    """This lab's latest rows of this run's profile, dataset and model (a shared run folder may hold others)."""
    from pathlib import Path

    dataset = Path(str(cfg.dataset_dir)).name
    return [r for r in ledger.read(cfg.run_dir, lab="07")
            if r["profile"] == cfg.profile and r["dataset"] == dataset and r["model"] == cfg.model]


def check_leakage(training: dict[str, list[dict]], test_questions: Sequence) -> "pd.DataFrame":
    """Every training set against every test question (by id and by normalised text); stops on any overlap."""
    import pandas as pd

    found = {name: raft.leakage(rows, test_questions) for name, rows in training.items()}
    leaking = {name: leak for name, leak in found.items() if leak["by_id"] or leak["by_text"]}
    if leaking:
        raise AssertionError(f"test questions in the training data: {leaking}")
    return pd.DataFrame({name: {"examples": len(training[name]), "oracle shown": raft.oracle_share(training[name]),
                                "test questions by id": leak["by_id"], "by text": leak["by_text"]}
                         for name, leak in found.items()}).T


def train_row(cfg, variant: str, rows: Sequence[dict], test_questions: Sequence, result, dropped: int = 0) -> dict:
    """The training run's ledger row: what it trained on (its question ids, so a test can re-check them), that no
    test question was in it, what it cost."""
    leak = raft.leakage(rows, test_questions)
    steps, batch = result.metrics["steps"], result.card["hyperparameters"]["batch_size"]
    metrics = {"examples": len(rows), "examples_seen": min(len(rows), steps * batch), "dropped_too_long": dropped,
               "oracle_share": raft.oracle_share(rows), "leak_by_id": leak["by_id"], "leak_by_text": leak["by_text"],
               **result.ledger_metrics()}
    return ledger.record(cfg, f"train/{variant}", metrics, cost=result.ledger_cost(),
                         params={"adapter": str(result.path), "method": result.method,
                                 "train_qids": [r["qid"] for r in rows]})


def score(cfg, llm, variant: str, questions: Sequence, contexts, *, quote: bool = False, extra: dict | None = None,
          cache=None, params: dict | None = None, train_seconds: float | None = None) -> dict:
    """Answer, score and record one model in one setting; returns the ledger row (`train_seconds`: the model's
    one-time training cost, for the ROI lab)."""
    records = raft.answer(llm, questions, contexts, context_chars=cfg.context_chars,
                          max_new_tokens=cfg.quote_new_tokens if quote else cfg.max_new_tokens,
                          batch_size=cfg.batch_size, quote=quote, cache=cache)
    cost = evaluate.cost_of(records)
    metrics = {**raft.metrics(records), "prompt_tokens": round(cost["tokens_in"] / max(1, len(records)), 1),
               **(extra or {})}
    if quote:  # did the model learn the quote-then-answer format? (an answer without the mark scores nothing)
        metrics["answer_mark_rate"] = round(sum(r.extra["answer_mark"] for r in records) / max(1, len(records)), 4)
    if train_seconds is not None:
        cost["train_seconds"] = round(train_seconds, 2)
    return ledger.record(cfg, variant, metrics, cost=cost, answers=records,
                         params={**precision_params(cfg.dtype), **(params or {})})


def compare(cfg, a: str, b: str) -> stats.Comparison:
    """b against a, paired on the questions both answered."""
    answers_a = {r["qid"]: r["correct"] for r in ledger.read_answers(cfg.run_dir, "07", a) or []}
    answers_b = {r["qid"]: r["correct"] for r in ledger.read_answers(cfg.run_dir, "07", b) or []}
    qids = sorted(set(answers_a) & set(answers_b))
    return stats.paired_binary([answers_a[q] for q in qids], [answers_b[q] for q in qids], names=(a, b))


def table(cfg):
    """Accuracy with n and interval, per type, prompt tokens and latency, one row per scored variant."""
    import pandas as pd

    rows = [r for r in _rows(cfg) if not r["variant"].startswith("train/")]
    out = []
    for r in rows:
        m = r["metrics"]
        if "answer_accuracy" not in m:  # verdict rows
            continue
        per_type = {f"{k[4:]}": f"{m[k]:.0%} [{m[k + '_ci_low']:.0%}, {m[k + '_ci_high']:.0%}] n={m['n_' + k[4:]]}"
                    for k in m if k.startswith("acc_") and not k.endswith(("_ci_low", "_ci_high"))}
        out.append({"variant": r["variant"], "accuracy": m["answer_accuracy"], "n": m["n"], "ci_low": m["ci_low"],
                    "ci_high": m["ci_high"], **per_type, "prompt_tokens": m.get("prompt_tokens"),
                    "latency_p50_s": (r.get("cost") or {}).get("latency_p50_s")})
    return pd.DataFrame(out).set_index("variant")


def plot_robustness(cfg, models: Sequence[str], ds_: Sequence[int], ax=None):
    """Accuracy against the number of distractors beside the oracle, one line per model, with intervals."""
    import matplotlib.pyplot as plt

    rows = {r["variant"]: r["metrics"] for r in _rows(cfg)}
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    for offset, model in enumerate(models):
        points = [(d, rows[f"{model}/oracle_d{d}"]) for d in ds_ if f"{model}/oracle_d{d}" in rows]
        if not points:
            continue
        xs = [d + 0.06 * (offset - len(models) / 2) for d, _ in points]
        ys = [m["answer_accuracy"] for _, m in points]
        err = [[y - m["ci_low"] for y, (_, m) in zip(ys, points)], [m["ci_high"] - y for y, (_, m) in zip(ys, points)]]
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=model)
    ax.set_xlabel("distractor chunks beside the oracle (d)")
    ax.set_ylabel("accuracy (95% CI)")
    ax.set_xticks(list(ds_))
    ax.set_ylim(0, 1.05)
    ns = sorted({m["n"] for model in models for d in ds_ for m in [rows.get(f"{model}/oracle_d{d}")] if m})
    ax.set_title("Robustness to distractors" + (f" (n = {'/'.join(map(str, ns))} per point)" if ns else ""))
    ax.legend(fontsize=8)
    return ax


def p_table(cfg, ps: Sequence[float]):
    """The P% ablation: accuracy with retrieved chunks for each oracle share trained."""
    import pandas as pd

    rows = {r["variant"]: r for r in _rows(cfg)}
    out = []
    for p in sorted(ps):
        variant = f"{p_label(p)}/rag"
        if variant in rows:
            m = rows[variant]["metrics"]
            share = rows.get(f"train/{p_label(p)}", {}).get("metrics", {}).get("oracle_share")
            out.append({"P (oracle shown)": f"{100 * p:.0f}%", "oracle share trained": share,
                        "accuracy": m["answer_accuracy"], "n": m["n"], "ci_low": m["ci_low"], "ci_high": m["ci_high"]})
    return pd.DataFrame(out)


def takeaways(cfg, headline: str) -> list[str]:
    """Each published direction with this run's paired comparison and a verdict decided by the interval."""
    rows = {r["variant"] for r in _rows(cfg)}
    lines = []

    def say(a, b, expected, claim):
        if {a, b} <= rows:
            comparison = compare(cfg, a, b)
            verdict = stats.verdict(comparison, expected, claim=claim)
            lines.append("- " + str(verdict))
            # the verdict is a ledger row too, so the notebook test (and the ROI lab) can read it
            ledger.record(cfg, f"verdict/{b}_vs_{a}", comparison.metrics("vs"),
                          params={"a": a, "b": b, "expected": expected, "claim": claim, "verdict": verdict.label})

    say("base/rag", f"{headline}/rag", "b>a", "RAFT + RAG beats base + RAG (Zhang et al. 2024)")
    say("dsf/rag", f"{headline}/rag", "b>a", "RAFT + RAG beats DSF + RAG (Zhang et al. 2024)")
    say("dsf/closed_book", "dsf/rag", "b>a", "adding retrieval to the fine-tuned model helps (Balaguer et al. 2024; "
                                             "RAFT found DSF + RAG sometimes worse than DSF)")
    say("base/closed_book", "dsf/closed_book", "b>a", "domain fine-tuning teaches answers closed book")
    say("base/rag", "dsf/rag", "b>a", "fine-tuning and RAG add up (Balaguer et al. 2024)")
    say("base/unanswerable", f"{headline}/unanswerable", "b<a",
        "RAFT trained only on answerable questions abstains less (it learns to answer from memory)")
    say(f"{headline}/rag", "raft_quote/rag", "b>a", "quoting the supporting sentence first helps (RAFT's CoT answers)")
    quoted = next((r for r in _rows(cfg) if r["variant"] == "raft_quote/rag"), None)
    if quoted:
        rate = quoted["metrics"]["answer_mark_rate"]
        lines.append(f"- The quoting model wrote the quote-then-answer format in {rate:.0%} of its answers"
                     + (" (it learned the format)" if rate >= 0.8 else ": a 135M model did not learn the format in "
                        "this many steps; answers without 'Answer:' score nothing"))
    return lines

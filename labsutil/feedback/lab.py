"""Lab 06's steps from its config: the store, the loop, a round, its ledger rows, the plots and the takeaways.

The notebook calls these in order; each prints what it did. Ledger rows (lab "06"):

- `start` — the starting champion: held-out accuracy (headline, n, interval) and control accuracy;
- `round<r>` — the round's challenger: its scores, its training (reward accuracy, margin, flagged), the
  feedback it was trained on (labels, pairs), and the gate's decision (`promoted`, `corrupted`; the
  reasons and numbers in `params`);
- `compare/kto`, `compare/ai_judge` — trained on round 1's feedback beside the round's DPO challenger;
- `judge/plain`, `judge/reference` — the AI judge against the simulated labels;
- `final` — the final champion against the start, paired on the held-out questions.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .. import ledger, stats
from ..llm import precision_params, training_bf16
from .annotator import SimulatedAnnotator
from .loop import Evaluation, FeedbackLoop, Pair
from .preference import KTO_RATE_FACTOR, PreferenceHyperparameters
from .registry import GateDecision, GatePolicy
from .store import Store
from .widget import NotEnoughLabels

STORE_NAME = "lab06_feedback.sqlite"


def open_store(cfg, *, fresh: bool = True) -> Store:
    """The run's feedback store (`<run_dir>/lab06_feedback.sqlite`); `fresh` starts it empty (a rerun of the
    lab starts the loop again)."""
    path = Path(cfg.run_dir) / STORE_NAME
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return Store(path)


def build_loop(cfg, store: Store, index, heldout: Sequence, control: Sequence) -> FeedbackLoop:
    hp = PreferenceHyperparameters(max_steps=cfg.train_steps, batch_size=cfg.train_batch_size,
                                   learning_rate=cfg.learning_rate, beta=cfg.beta, lora_r=cfg.lora_r,
                                   lora_alpha=2 * cfg.lora_r, seed=cfg.seed, bf16=training_bf16(cfg.dtype))
    policy = GatePolicy(floor=cfg.gate_floor, max_control_drop=cfg.max_control_drop)
    return FeedbackLoop(store, index, base_model=cfg.model, heldout=heldout, control=control, policy=policy, hp=hp,
                        k=cfg.top_k, context_chars=cfg.context_chars, max_new_tokens=cfg.max_new_tokens,
                        batch_size=cfg.batch_size, dtype=cfg.dtype, temperature=cfg.temperature, seed=cfg.seed,
                        min_labels=cfg.min_labels, backend=cfg.backend,
                        kto_learning_rate=cfg.kto_learning_rate or KTO_RATE_FACTOR * cfg.learning_rate)


def record_version(cfg, variant: str, evaluation: Evaluation, extra: dict | None = None,
                   params: dict | None = None, cost: dict | None = None) -> dict:
    """A model version's ledger row, its per-question answers (and control hits) beside it."""
    from .. import evaluate

    ledger.record_answers(cfg, f"{variant}/control", evaluation.control_hits)
    cost = {**evaluate.cost_of(evaluation.records), **(cost or {})}  # tokens and latency of the held-out answers
    params = {**precision_params(cfg.dtype), **(params or {})}
    return ledger.record(cfg, variant, {**evaluation.metrics(), **(extra or {})}, cost=cost, params=params,
                         answers=evaluation.records)


def simulated_annotator(cfg, questions: Sequence, round: int) -> SimulatedAnnotator:
    corrupted = round == cfg.corrupt_round
    # edits cite the gold document, as the served prompt asks: the corrected answer has the served format
    return SimulatedAnnotator(questions, noise=cfg.noise, flip=corrupted, seed=cfg.seed + round, cite=True,
                              name="simulated-corrupted" if corrupted else "simulated")


def label_round(cfg, loop: FeedbackLoop, round: int, pairs: Sequence[Pair]) -> dict:
    """The simulated annotator labels the round (corrupted in `corrupt_round`); returns the store's counts."""
    annotator = simulated_annotator(cfg, [p.question for p in pairs], round)
    loop.label_simulated(round, pairs, annotator)
    counts = loop.store.counts(round=round, source="simulated")
    flipped = annotator.stats["flipped"]
    print(f"round {round}: {counts['total']} feedback rows ({counts['pairwise']} pairwise, {counts['thumbs']} "
          f"thumbs, {counts['edit']} edits) from the {annotator.name} annotator; {flipped} of "
          f"{annotator.stats['judgements']} judgements flipped")
    return counts


@dataclass
class RoundResult:
    round: int
    challenger: str
    decision: GateDecision
    row: dict


def finish_round(cfg, loop: FeedbackLoop, round: int, *, source: str = "simulated") -> RoundResult:
    """Train the challenger on the round's feedback, gate it, and write the round's ledger row."""
    challenger = loop.train(round, cfg.method, source=source)
    decision = loop.gate(challenger)
    print(decision)
    result = loop.trained[challenger]
    report = loop.reports[challenger]
    counts = loop.store.counts(round=round, source=source)
    held = decision.numbers["heldout"]
    extra = {"round": round, "promoted": int(decision.promoted), "corrupted": int(round == cfg.corrupt_round),
             "labels": counts["total"], "dpo_pairs": report.dpo,
             "kto_examples": report.kto_desirable + report.kto_undesirable,
             "vs_champion_diff": held["diff"], "vs_champion_diff_ci_low": held["diff_ci_low"],
             "vs_champion_diff_ci_high": held["diff_ci_high"], "vs_champion_p_value": held["p_value"],
             "control_drop": decision.numbers["control_drop"], **result.ledger_metrics()}
    params = {"version": challenger, "champion_before": decision.champion, "method": cfg.method, "source": source,
              "decision": "promote" if decision.promoted else "reject", "reasons": decision.reasons,
              "checks": decision.numbers["checks"], "adapter": str(result.path)}
    row = record_version(cfg, f"round{round}", loop.evaluate(challenger), extra, params, cost=result.ledger_cost())
    return RoundResult(round, challenger, decision, row)


def side_challenger(cfg, loop: FeedbackLoop, variant: str, round: int, method: str, source: str) -> dict | None:
    """A model trained on the same round's feedback with another loss or source, scored but never gated."""
    version = f"r{round}-{method}-{source}"
    try:
        loop.train(round, method, source=source, version_id=version, register=False)
    except (ValueError, NotEnoughLabels) as error:  # e.g. the AI judge gave no decisive pair: say so, go on
        print(f"{variant}: not trained ({error})")
        return None
    result = loop.trained[version]
    report = loop.reports[version]
    extra = {"round": round, "dpo_pairs": report.dpo, "kto_examples": report.kto_desirable + report.kto_undesirable,
             **result.ledger_metrics()}
    return record_version(cfg, variant, loop.evaluate(version), extra,
                          {"version": version, "method": method, "source": source, "adapter": str(result.path)},
                          cost=result.ledger_cost())


def pair_labels(loop: FeedbackLoop, pairs: Sequence[Pair], round: int, source: str) -> list[str | None]:
    """The annotator's pairwise verdict for each pair, in the pair's own order (None: the pair was not labelled).
    The widget shows a pair in random order, so a verdict stored as (b, a) is mapped back."""
    swap = {"a": "b", "b": "a"}
    stored = {}
    for r in loop.store.records(round=round, source=source):
        f = r.feedback
        if f.kind == "pairwise":
            stored[(f.interaction_id, f.other_interaction_id)] = f.value
            stored[(f.other_interaction_id, f.interaction_id)] = swap.get(f.value, f.value)
    return [stored.get((p.a.id, p.b.id)) for p in pairs]


def judge_rows(cfg, loop: FeedbackLoop, pairs: Sequence[Pair], round: int, *, source: str = "simulated",
               method: str = "loglikelihood") -> dict:
    """The AI judge (plain and reference-guided) on the round's pairs, against the simulated annotator's
    pairwise labels; the reference-guided verdicts are stored as `ai-judge` feedback (what RLAIF trains on).
    Returns {variant: agreement metrics}; each is a ledger row."""
    from .judge import PairwiseJudge, agreement

    labels = pair_labels(loop, pairs, round, source)
    labelled = [(p, label) for p, label in zip(pairs, labels) if label is not None]
    if not labelled:
        print(f"no pairwise labels from {source!r} in round {round}: the judge has nothing to agree with")
        return {}
    pairs, reference = [p for p, _ in labelled], [label for _, label in labelled]
    llm = loop.llm(loop.registry.champion().id)
    out = {}
    for variant, guided in (("judge/plain", False), ("judge/reference", True)):
        judge = PairwiseJudge(llm, reference_guided=guided, method=method)
        if guided:
            verdicts = loop.label_ai(round, pairs, judge)
        else:
            from .judge import JudgeItem

            verdicts = judge.judge([JudgeItem(p.question.question, p.a.response, p.b.response) for p in pairs])
        metrics = agreement(verdicts, reference)
        ledger.record(cfg, variant, metrics, params={"judge": judge.name, "round": round, "reference": f"{source} labels"})
        out[variant] = metrics
    return out


# --------------------------------------------------------------------------- results

def paired(cfg, a: str, b: str, names: tuple[str, str]) -> stats.Comparison:
    """b against a on the held-out questions, from the answers kept beside the ledger rows."""
    answers_a = {r["qid"]: r["correct"] for r in ledger.read_answers(cfg.run_dir, "06", a)}
    answers_b = {r["qid"]: r["correct"] for r in ledger.read_answers(cfg.run_dir, "06", b)}
    qids = sorted(set(answers_a) & set(answers_b))
    return stats.paired_binary([answers_a[q] for q in qids], [answers_b[q] for q in qids], names=names)


def confirmation_questions(ds, types: Sequence[str], heldout: Sequence, n: int | None, seed: int) -> list:
    """Questions the gate never saw, for an unbiased final comparison: the dev split (else the test questions
    left out of the held-out set). The held-out set chose every promotion, so on it the final champion's gain
    is biased upward (a winner's curse)."""
    from ..rag import pipeline

    used = {q.qid for q in heldout}
    for split in ("dev", "test"):
        pool = [q for q in ds.questions(split=split, types=list(types)) if q.qid not in used]
        if pool:
            return pipeline.subsample(pool, n, seed)
    print("note: no question outside the held-out set: the final comparison reuses it (biased upward)")
    return list(heldout)


def record_final(cfg, loop: FeedbackLoop, start_version: str, confirm: Sequence) -> dict:
    """The final champion against the starting model, paired on confirmation questions the gate never saw."""
    champion = loop.registry.champion().id
    evaluation = loop.evaluate(champion)
    start_answers = {r.qid: r.correct for r in loop.answer(start_version, confirm)}
    final_answers = (start_answers if champion == start_version
                     else {r.qid: r.correct for r in loop.answer(champion, confirm)})
    qids = sorted(start_answers)
    comparison = stats.paired_binary([start_answers[q] for q in qids], [final_answers[q] for q in qids],
                                     names=(start_version, champion))
    labels = sum(loop.store.counts(round=r, source=s)["total"] for s in ("simulated", "human")
                 for r in {i.round for i in loop.store.interactions() if i.round is not None})
    confirmed = stats.proportion([final_answers[q] for q in qids]).metrics("confirm_accuracy", headline=False)
    started = stats.proportion([start_answers[q] for q in qids]).metrics("confirm_start_accuracy", headline=False)
    extra = {**comparison.metrics("vs_start"), **confirmed, **started, "labels_total": labels, "n_labels": labels,
             "gain_per_100_labels": round(100 * comparison.diff / labels, 4) if labels else None}
    # the ROI lab reads this row as "feedback-tuned champion": every label bought and every training run paid
    # for (rejected challengers included) are its one-time cost
    loop_versions = {v.id for v in loop.store.model_versions()}  # not the side comparisons (KTO, AI judge)
    spent = round(sum(r.train_seconds for v, r in loop.trained.items() if v in loop_versions), 2)
    row = record_version(cfg, "final", evaluation, extra,
                         {"version": champion, "start": start_version, "roi_approach": "feedback_champion"},
                         cost={"train_seconds": spent})
    print(f"final champion {champion} vs start {start_version} on {len(qids)} confirmation questions the gate "
          f"never saw: {comparison}")
    return row


def rounds_table(cfg):
    """One row per model version of the loop (start, rounds, side comparisons) with intervals."""
    import pandas as pd

    rows = [r for r in ledger.read(cfg.run_dir, lab="06") if r["variant"] == "start"
            or r["variant"].startswith(("round", "compare/"))]
    table = pd.DataFrame([{"variant": r["variant"], "version": r["params"].get("version", "v0"),
                           "decision": r["params"].get("decision", ""), **{k: r["metrics"].get(k) for k in (
                               "heldout_accuracy", "n", "ci_low", "ci_high", "control_accuracy", "reward_accuracy",
                               "reward_margin", "flagged", "labels", "dpo_pairs", "corrupted")},
                           "train_seconds": (r.get("cost") or {}).get("train_seconds")} for r in rows])
    return table.set_index("variant")


def plot_rounds(table, ax=None):
    """Held-out accuracy per round with its interval; promoted rounds in green, rejected in red (x)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 3.5))[1]
    loop_rows = table[[v == "start" or v.startswith("round") for v in table.index]]
    xs = list(range(len(loop_rows)))
    for x, (variant, row) in zip(xs, loop_rows.iterrows()):
        colour = {"promote": "tab:green", "reject": "tab:red"}.get(row["decision"], "tab:blue")
        ax.errorbar([x], [row["heldout_accuracy"]], yerr=[[row["heldout_accuracy"] - row["ci_low"]],
                                                          [row["ci_high"] - row["heldout_accuracy"]]],
                    fmt="x" if row["decision"] == "reject" else "o", color=colour, capsize=4, ms=8)
        label = row["decision"] or "start"
        if row.get("corrupted") == 1:  # the start row has no value (NaN in the table)
            label += " (corrupted)"
        ax.annotate(label, (x, row["ci_high"]), textcoords="offset points", xytext=(0, 4), ha="center", fontsize=8)
    ax.set_xticks(xs, list(loop_rows.index))
    ax.set_ylabel("held-out accuracy (95% CI)")
    ax.set_ylim(0, 1.05)
    ax.set_title("Accuracy of each round's challenger, and the gate's decision")
    return ax


def takeaways(cfg) -> list[str]:
    """Each published direction with this run's numbers and a verdict decided by the interval."""
    rows = {r["variant"]: r for r in ledger.read(cfg.run_dir, lab="06")}
    lines = []
    rounds = sorted((r for v, r in rows.items() if v.startswith("round")), key=lambda r: r["metrics"]["round"])
    corrupted = [r for r in rounds if r["metrics"]["corrupted"]]
    for r in corrupted:
        lines.append(f"- The corrupted round {r['metrics']['round']} was "
                     f"{'REJECTED by the gate' if not r['metrics']['promoted'] else 'PROMOTED (the gate missed it)'}: "
                     + "; ".join(r["params"]["reasons"]))
    if "final" in rows:
        m = rows["final"]["metrics"]
        c = stats.Comparison("start", "final champion", m["vs_start_n"], m["vs_start_diff"], m["vs_start_diff_ci_low"],
                             m["vs_start_diff_ci_high"], m["vs_start_p_value"], "exact McNemar", 0, 0)
        lines.append(f"- Final champion {rows['final']['params']['version']} against the start, on questions the "
                     "gate never saw: " + str(stats.verdict(c, "b>a", claim="the loop improves the model")))
        if m.get("gain_per_100_labels") is not None:
            lines.append(f"  {m['labels_total']} labels in all; {100 * m['gain_per_100_labels']:+.1f} points per 100 "
                         "labels (point estimate; its interval is the one above, scaled)")
    first = next((r for r in rounds if r["metrics"]["round"] == 1), None)
    if first and "compare/kto" in rows:
        c = paired(cfg, "round1", "compare/kto", ("DPO", "KTO"))
        lines.append("- " + str(stats.verdict(c, "b=a", margin=0.05, claim="KTO (thumbs, and the pairs unpaired) is "
                                                                            "about as good as DPO on the pairs "
                                                                            "(Ethayarajh et al. 2024)")))
    if first and "compare/ai_judge" in rows:
        c = paired(cfg, "round1", "compare/ai_judge", ("simulated-human feedback", "AI-judge feedback"))
        lines.append("- " + str(stats.verdict(c, "b=a", margin=0.05, claim="AI feedback is about as good as "
                                                                            "human feedback (RLAIF, Lee et al. 2023; "
                                                                            "here the human side also has edits)")))
    if "judge/reference" in rows and "compare/ai_judge" not in rows and cfg.compare_ai_judge:
        lines.append("- RLAIF (Lee et al. 2023) cannot be compared here: the AI judge's verdicts gave no decisive "
                     "pair to train on (every verdict changed when the order was swapped, so all count as ties).")
    if "judge/reference" in rows:
        m = rows["judge/reference"]["metrics"]
        low, high = m["order_consistency_ci_low"], m["order_consistency_ci_high"]
        where = "above" if low > 0.65 else "below" if high < 0.65 else "not distinguishable from"
        lines.append(f"- Judge order consistency {m['order_consistency']:.0%} [{low:.0%}, {high:.0%}] (n = {m['n']}): "
                     f"{where} GPT-4's 65% in MT-Bench; agreement {m['judge_accuracy']:.0%} "
                     f"[{m['ci_low']:.0%}, {m['ci_high']:.0%}] with the simulated labels, kappa {m['judge_kappa']} "
                     f"(kappa near 0: no better than chance, however high the raw agreement); it picked the answer "
                     f"shown first in {m['first_position_rate']:.0%} of its readable asks.")
    flagged = [v for v, r in rows.items() if r["metrics"].get("flagged")]
    if flagged:
        lines.append(f"- FLAGGED runs (reward accuracy stuck at chance or no positive margin): {flagged}")
    return lines

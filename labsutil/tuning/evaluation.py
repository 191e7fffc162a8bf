"""What a fine-tuned model learned and forgot, measured the same way for every model of lab 05.

- closed-book answer accuracy on test questions about the trained documents (generation, the closed-book
  prompt of lab 02, an answer is right when it contains the gold answer or an alias);
- log-likelihood multiple-choice accuracy on the same questions (Ovadia et al.'s metric): the option the
  model finds most probable; it moves before the generated text does;
- the same two on test questions about documents that were not trained (they should stay near chance: a
  model that learned facts, not a shortcut, does not improve there);
- control-set multiple-choice accuracy (general knowledge): its drop from the base model is forgetting.

`lr_sweep` trains a method briefly at several learning rates and keeps the one whose training loss ends
lowest (the goal here is to store the training facts, so the training loss is the criterion).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from .. import evaluate
from ..llm import precision_params
from ..datacheck import closed_book_mc, control_mc
from ..rag import pipeline


@dataclass
class Scores:
    """One model's numbers (`metrics`, ledger-ready) and its closed-book answers (`records`)."""

    metrics: dict
    records: list = field(repr=False, default_factory=list)
    cost: dict = field(default_factory=dict)
    control_hits: list = field(repr=False, default_factory=list)  # per control item: qid, correct


def _with_choices(questions: Sequence) -> list:
    return [q for q in questions if q.has_choices]


NO_GAIN_MARGIN = 0.10  # a "no gain" claim holds when any gain is shown to be under 10 points


def _rate(name: str, result: dict) -> dict:
    """A multiple-choice accuracy as ledger fields with its n and Wilson 95% interval."""
    from .. import stats

    correct = round(result["accuracy"] * result["n"]) if result["n"] else 0
    return stats.proportion([1] * correct + [0] * (result["n"] - correct)).metrics(name, headline=False)


def score_model(llm, trained: Sequence, untrained: Sequence, control: Sequence, *, max_new_tokens: int,
                batch_size: int | None = None) -> Scores:
    """Closed-book and multiple-choice accuracy on trained and untrained questions, and control accuracy."""
    metrics: dict = {}
    records = pipeline.closed_book(llm, list(trained), max_new_tokens=max_new_tokens, batch_size=batch_size)
    metrics.update(pipeline.summarize(records, by_type=False, with_citations=False))  # answer_accuracy, n
    cost = evaluate.cost_of(records)
    # untrained documents: multiple choice only, the cleanest "near chance?" check, at a fraction of the cost
    for prefix, questions in (("mc", trained), ("untrained_mc", untrained)):
        with_choices = _with_choices(questions)
        if with_choices:
            result = closed_book_mc(llm, with_choices)
            metrics.update(_rate(f"{prefix}_accuracy", result))
            metrics[f"{prefix}_chance"] = round(result["chance"], 4)
    if control:
        result = control_mc(llm, list(control))
        metrics.update(_rate("control_accuracy", result))
        control_hits = result["hits"]
    return Scores(metrics, records, cost, control_hits if control else [])


class Scoreboard:
    """Scores each trained model once (by cache key) and appends its ledger row with the training numbers and
    its forgetting against the base model."""

    def __init__(self, cfg, trained: Sequence, untrained: Sequence, control: Sequence, base: Scores):
        self.cfg, self.trained, self.untrained, self.control, self.base = cfg, trained, untrained, control, base
        self.scored: dict[str, Scores] = {}

    def record(self, variant: str, result, params: dict | None = None) -> Scores:
        from .. import ledger

        if result.key not in self.scored:
            llm = load_llm(result, self.cfg)
            self.scored[result.key] = score_model(llm, self.trained, self.untrained, self.control,
                                                  max_new_tokens=self.cfg.max_new_tokens,
                                                  batch_size=self.cfg.batch_size)
            del llm
        scores = self.scored[result.key]
        metrics = {**scores.metrics, **result.ledger_metrics(),
                   "forgetting": forgetting(self.base.metrics.get("control_accuracy"),
                                            scores.metrics.get("control_accuracy"))}
        record_answers(self.cfg, variant, scores)
        ledger.record(self.cfg, variant, metrics, cost={**scores.cost, **result.ledger_cost()},
                      params={**precision_params(self.cfg.dtype), **(params or {}), "method": result.method,
                              "adapter": str(result.path)})
        return scores


def record_answers(cfg, variant: str, scores: Scores) -> None:
    """Keep a model's per-question outcomes beside its row (trained questions; control items under
    `<variant>/control`), so that comparisons between models are paired on the same questions."""
    from .. import ledger

    ledger.record_answers(cfg, variant, scores.records)
    if scores.control_hits:
        ledger.record_answers(cfg, f"{variant}/control", scores.control_hits)


def control_subset(items: Sequence, n: int | None) -> list:
    """`n` control questions spread evenly over the file (its categories come in blocks), or all."""
    items = list(items)
    if n is None or n >= len(items):
        return items
    step = len(items) / n
    return [items[int(k * step)] for k in range(n)]


def lr_sweep(method: str, base_model: str, data, multiples: Sequence[float], hp: dict, *,
             progress: bool = True) -> list[dict]:
    """Train `method` with the default learning rate times each multiple; one row per run, best marked."""
    from .hparams import DEFAULT_LEARNING_RATE
    from .train import train

    rows = []
    for multiple in multiples:
        lr = DEFAULT_LEARNING_RATE[method] * multiple
        result = train(method, base_model, data, {**hp, "learning_rate": lr}, progress=progress,
                       what=f"learning-rate sweep x{multiple:g}")
        rows.append({"method": method, "multiple": multiple, "learning_rate": lr, "result": result,
                     "initial_loss": result.metrics["initial_loss"], "final_loss": result.metrics["final_loss"],
                     "train_seconds": result.train_seconds})
    finite = [r for r in rows if r["final_loss"] is not None and r["final_loss"] == r["final_loss"]]
    best = min(finite, key=lambda r: r["final_loss"]) if finite else None
    for r in rows:
        r["best"] = r is best
    return rows


def forgetting(base_control: float | None, model_control: float | None) -> float | None:
    """Control-set accuracy lost against the base model (positive: forgot)."""
    if base_control is None or model_control is None:
        return None
    return round(base_control - model_control, 4)


def load_llm(result, cfg):
    """The trained model behind the course's generation interface, with the run's backend (LoRA merged in memory
    on transformers); vLLM serves LoRA adapters and full models but not soft prompts, so prompt tuning falls back
    to transformers (said so)."""
    backend = cfg.backend
    if result.method == "prompt_tuning" and backend != "transformers":
        print(f"note: backend {backend!r} cannot serve a prompt-tuning adapter; using 'transformers' for it")
        backend = "transformers"
    # a LoRA adapter is scored merged into the weights (as it would be served: no per-token adapter cost);
    # section 8 of lab 05 checks that merging does not change the answers
    return result.load_llm(backend=backend, dtype=cfg.dtype, batch_size=cfg.batch_size,
                           merge_adapter=backend == "transformers")


def best_tuned(rows: dict[str, dict]) -> str | None:
    """The fine-tuned variant (recipe or method) with the highest closed-book accuracy (ties: multiple choice)."""
    tuned = [v for v in rows if v.startswith(("recipe/", "method/"))]
    return max(tuned, key=lambda v: (rows[v].get("answer_accuracy") or 0, rows[v].get("mc_accuracy") or 0)) \
        if tuned else None


def paired_answers(run_dir, lab: str, a: str, b: str, suffix: str = ""):
    """Paired comparison of two variants' kept per-question answers (None where either is missing or the
    questions differ)."""
    from .. import ledger, stats

    if run_dir is None:
        return None
    first, second = (ledger.read_answers(run_dir, lab, v + suffix) for v in (a, b))
    if not first or not second or [x["qid"] for x in first] != [x["qid"] for x in second]:
        return None
    return stats.paired_binary([x["correct"] for x in first], [x["correct"] for x in second], names=(a, b))


def _pct_interval(row: dict, key: str = "answer_accuracy") -> str:
    value, low, high = row.get(key), row.get("ci_low" if key == "answer_accuracy" else f"{key}_ci_low"), \
        row.get("ci_high" if key == "answer_accuracy" else f"{key}_ci_high")
    if value is None:
        return "n/a"
    return f"{value:.0%}" + (f" [{low:.0%}, {high:.0%}]" if low is not None and high is not None else "")


def against_base(rows: dict[str, dict], run_dir, lab: str = "05") -> list[str]:
    """Does the best fine-tuned model beat the base model on closed-book answers? The paired verdict on the same
    questions, then what the training loss and the multiple-choice accuracy did (measured, not interpreted).

    The best of several variants is picked on these same questions, so an "agrees" is optimistic (the line says
    so); an undecided or contrary verdict is not."""
    from .. import stats

    best = best_tuned(rows)
    if best is None or "base" not in rows:
        return []
    m, b = rows[best], rows["base"]
    tuned = sum(v.startswith(("recipe/", "method/")) for v in rows)
    lines = [f"closed-book accuracy on {b.get('n')} trained-document questions: base {_pct_interval(b)}, "
             f"best fine-tuned ({best}, the best of {tuned} variants on these questions) {_pct_interval(m)}"]
    comparison = paired_answers(run_dir, lab, "base", best)
    verdict = stats.verdict(comparison, "b>a", claim=f"{best} beats the base model") if comparison else None
    lines.append(verdict.text if verdict else f"{best} vs base: no per-question answers kept, not decided.")
    if verdict is not None and verdict.label == "agrees" and tuned > 1:
        lines.append(f"(picked as the best of {tuned} on the same questions: the true gain is likely smaller)")
    if verdict is None or verdict.label != "agrees":
        lines.append("So fine-tuning is NOT shown to beat the base model on closed-book answers here.")
    moved = []
    if m.get("initial_loss") is not None and m.get("final_loss") is not None:
        moved.append(f"training loss {m['initial_loss']} -> {m['final_loss']}")
    if m.get("mc_accuracy") is not None and b.get("mc_accuracy") is not None:
        moved.append(f"multiple-choice accuracy on the same questions: base {_pct_interval(b, 'mc_accuracy')} -> "
                     f"{_pct_interval(m, 'mc_accuracy')} (chance {b.get('mc_chance', 0.25):.0%})")
    if moved:
        lines.append(f"{best}: " + "; ".join(moved) + ".")
    return lines


def published_directions(rows: dict[str, dict], *, top_k: int, ks: Sequence[int], first_rank: int,
                         run_dir=None, lab: str = "05") -> list[str]:
    """Each published direction with this run's numbers and, where the per-question answers were kept (the
    ledger's sidecars, `run_dir`), a paired comparison on the same questions and its verdict: agrees,
    disagrees, or cannot be decided at this n. `rows`: variant -> ledger metrics."""
    from .. import stats
    from .recipes import describe

    def acc(variant: str, key: str = "answer_accuracy"):
        return rows.get(variant, {}).get(key)

    def pct(value) -> str:
        return "n/a" if value is None else f"{value:.0%}"

    def paired(a: str, b: str, suffix: str = ""):
        return paired_answers(run_dir, lab, a, b, suffix)

    def judged(claim: str, a: str, b: str, expected: str = "b>a", suffix: str = "") -> str:
        comparison = paired(a, b, suffix)
        if comparison is None:
            return f"{claim}: {a} {pct(acc(a))} vs {b} {pct(acc(b))} (no per-question answers: not decided)"
        return stats.verdict(comparison, expected, claim=claim).text

    best = best_tuned(rows)
    lines = []
    if best and f"rag_k{top_k}" in rows:
        lines.append(judged(f"Ovadia et al. 2023, RAG above fine-tuning for new facts (RAG k={top_k} vs {best})",
                            best, f"rag_k{top_k}"))
    present = [k for k in ks if f"recipe/{describe('facts', k)}" in rows]
    if len(present) > 1:
        lo, hi = f"recipe/{describe('facts', present[0])}", f"recipe/{describe('facts', present[-1])}"
        lines.append(judged(f"Ovadia et al. 2023, more paraphrases help (k={present[0]} vs k={present[-1]})", lo, hi)
                     .rstrip(".") + "; all k: " + ", ".join(f"k={k} {pct(acc('recipe/' + describe('facts', k)))}" for k in present))
    if "recipe/facts" in rows and "base" in rows:
        comparison = paired("base", "recipe/facts")
        loss = f"training loss {acc('recipe/facts', 'initial_loss')} -> {acc('recipe/facts', 'final_loss')}"
        if comparison is None:
            lines.append(f"Allen-Zhu & Li 2023 (one wording: stored, not extractable): {loss}, answers "
                         f"{pct(acc('recipe/facts'))} (no per-question answers: not decided)")
        else:
            fell = (acc("recipe/facts", "final_loss") or 0) < (acc("recipe/facts", "initial_loss") or 0)
            label = ("disagrees" if comparison.ci_low > 0 else
                     "agrees" if fell and comparison.ci_high < NO_GAIN_MARGIN else "cannot be decided")
            lines.append(f"Allen-Zhu & Li 2023, a fact seen in one wording is stored but not extractable by a "
                         f"question: {loss}; {comparison.difference_text()} against the base model: {label} "
                         f"at n = {comparison.n}")
    full, lora, prompt = "method/full", f"method/lora_r{first_rank}", "method/prompt_tuning"
    if full in rows and lora in rows:
        lines.append(judged("Biderman et al. 2024, LoRA learns less than full fine-tuning", lora, full))
        lines.append(judged("Biderman et al. 2024, LoRA forgets less (control-set accuracy, LoRA vs full)",
                            full, lora, suffix="/control"))
    if prompt in rows and lora in rows:
        lines.append(judged("Lester et al. 2021, prompt tuning trails LoRA at small scale", prompt, lora))
    return lines

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
from ..datacheck import closed_book_mc, control_mc
from ..rag import pipeline


@dataclass
class Scores:
    """One model's numbers (`metrics`, ledger-ready) and its closed-book answers (`records`)."""

    metrics: dict
    records: list = field(repr=False, default_factory=list)
    cost: dict = field(default_factory=dict)


def _with_choices(questions: Sequence) -> list:
    return [q for q in questions if q.has_choices]


def score_model(llm, trained: Sequence, untrained: Sequence, control: Sequence, *, max_new_tokens: int,
                batch_size: int | None = None) -> Scores:
    """Closed-book and multiple-choice accuracy on trained and untrained questions, and control accuracy."""
    metrics: dict = {}
    records = pipeline.closed_book(llm, list(trained), max_new_tokens=max_new_tokens, batch_size=batch_size)
    metrics.update(pipeline.summarize(records, by_type=False, with_citations=False))  # answer_accuracy, n
    cost = evaluate.cost_of(records)
    if untrained:
        other = pipeline.closed_book(llm, list(untrained), max_new_tokens=max_new_tokens, batch_size=batch_size)
        metrics["untrained_answer_accuracy"] = pipeline.summarize(other, by_type=False, with_citations=False)[
            "answer_accuracy"]
        metrics["untrained_answer_accuracy_n"] = len(other)
    for prefix, questions in (("mc", trained), ("untrained_mc", untrained)):
        with_choices = _with_choices(questions)
        if with_choices:
            result = closed_book_mc(llm, with_choices)
            metrics[f"{prefix}_accuracy"] = round(result["accuracy"], 4)
            metrics[f"{prefix}_accuracy_n"] = result["n"]
            metrics[f"{prefix}_chance"] = round(result["chance"], 4)
    if control:
        result = control_mc(llm, list(control))
        metrics["control_accuracy"] = round(result["accuracy"], 4)
        metrics["control_accuracy_n"] = result["n"]
    return Scores(metrics, records, cost)


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
        ledger.record(self.cfg, variant, metrics, cost={**scores.cost, **result.ledger_cost()},
                      params={**(params or {}), "method": result.method, "adapter": str(result.path)})
        return scores


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
    """The trained model behind the course's generation interface, with the run's backend; vLLM serves LoRA
    adapters and full models but not soft prompts, so prompt tuning falls back to transformers (said so)."""
    backend = cfg.backend
    if result.method == "prompt_tuning" and backend != "transformers":
        print(f"note: backend {backend!r} cannot serve a prompt-tuning adapter; using 'transformers' for it")
        backend = "transformers"
    return result.load_llm(backend=backend, dtype=cfg.dtype, batch_size=cfg.batch_size)


def published_directions(rows: dict[str, dict], *, top_k: int, ks: Sequence[int], first_rank: int) -> list[str]:
    """Each published direction with this run's point estimates (`rows`: variant -> ledger metrics).

    TODO(lead): turn each line into a verdict (holds / does not hold / cannot be decided at this n) with
    labsutil.stats (Wilson intervals, paired tests on the same questions) once that module is merged.
    """
    from .recipes import describe

    def acc(variant: str, key: str = "answer_accuracy"):
        return rows.get(variant, {}).get(key)

    def pct(value) -> str:
        return "n/a" if value is None else f"{value:.0%}"

    tuned = [v for v in rows if v.startswith(("recipe/", "method/"))]
    best = max(tuned, key=lambda v: acc(v) or 0) if tuned else None
    lines = []
    if best and f"rag_k{top_k}" in rows:
        lines.append(f"Ovadia et al. 2023 (RAG above fine-tuning for new facts): RAG k={top_k} "
                     f"{pct(acc(f'rag_k{top_k}'))} vs best fine-tuned ({best}) {pct(acc(best))}")
    present = [k for k in ks if f"recipe/{describe('facts', k)}" in rows]
    if len(present) > 1:
        lines.append("Ovadia et al. 2023 (more paraphrases help): " + ", ".join(
            f"k={k} {pct(acc('recipe/' + describe('facts', k)))}" for k in present))
    if "recipe/facts" in rows:
        lines.append(f"Allen-Zhu & Li 2023 (one wording: stored, not extractable): facts stated once: loss "
                     f"{acc('recipe/facts', 'initial_loss')} -> {acc('recipe/facts', 'final_loss')}, "
                     f"answers {pct(acc('recipe/facts'))}, multiple choice {pct(acc('recipe/facts', 'mc_accuracy'))}")
    full, lora, prompt = "method/full", f"method/lora_r{first_rank}", "method/prompt_tuning"
    if full in rows and lora in rows:
        lines.append(f"Biderman et al. 2024 (LoRA learns less, forgets less): full {pct(acc(full))} "
                     f"(forgetting {acc(full, 'forgetting')}) vs LoRA r={first_rank} {pct(acc(lora))} "
                     f"(forgetting {acc(lora, 'forgetting')})")
    if prompt in rows and lora in rows:
        lines.append(f"Lester et al. 2021 (prompt tuning trails at small scale): prompt tuning {pct(acc(prompt))} "
                     f"vs LoRA {pct(acc(lora))}")
    return lines

"""Which ledger rows stand for which approach: one declarative table, and what was measured for each.

`APPROACHES` maps an approach to the lab that measures it and a selector that picks its row(s). Labs 00-04
are read by their variant names; labs 05-08 (and any later lab) by a tag: a row whose
`params["roi_approach"]` names the approach (see `labsutil.roi` for the convention). An approach whose
rows are absent is left out with a note naming the lab to run: nothing is invented.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from .. import ledger

LAB_TITLES = {"00": "setup and tour", "01": "prompting", "02": "RAG foundations", "03": "advanced RAG",
              "04": "knowledge-graph RAG", "05": "fine-tuning", "06": "feedback fine-tuning",
              "07": "RAG + fine-tuning", "08": "inference acceleration"}
ACCURACY_KEYS = ("answer_accuracy", "accuracy", "heldout_accuracy")  # the headline proportion, in this order
SERVING_PREFIX = "serving:"  # lab 08 tags each serving variant "serving:<name>" and names the approach it serves


def wilson_interval(correct: int, n: int) -> tuple[float, float]:
    """95% Wilson interval of correct / n (`labsutil.stats`)."""
    from .. import stats

    return stats.wilson(correct, n)


@dataclass(frozen=True)
class Measured:
    """One approach as measured: quality, speed, tokens and one-time effort, per query where it says so."""

    approach: str
    title: str
    lab: str
    variants: tuple[str, ...]
    accuracy: float
    n: int
    ci_low: float
    ci_high: float
    latency_p50_s: float | None  # what a request waits (a batch's wall time under batching)
    latency_p95_s: float | None
    tokens_in_per_q: float
    tokens_out_per_q: float
    compute_s_per_q: float  # machine seconds per answered question (batch wall time / questions in a batch)
    train_seconds: float = 0.0  # one-time compute: training (fine-tuning, a cross-encoder, ...)
    index_seconds: float = 0.0  # one-time compute: building the index or graph
    n_labels: int = 0  # feedback labels bought
    device: str = "cpu"
    knowledge: str = "none"  # where domain knowledge lives: none, documents (re-index), weights (retrain)
    question_set: str = ""
    qids: tuple[str, ...] | None = None  # from the per-question answers, when the lab kept them
    answers: tuple[dict, ...] | None = None
    notes: tuple[str, ...] = ()

    @property
    def correct(self) -> int:
        return round(self.accuracy * self.n)


@dataclass(frozen=True)
class Pick:
    """What a selector chose: the rows (pooled when several) and notes about the choice."""

    rows: tuple[dict, ...]
    detail: str = ""
    extra_train_rows: tuple[dict, ...] = ()
    # questions answered together in one batched run, when the rows split that run (lab 04's rows by type)
    answered_together: int | None = None


Selector = Callable[[list[dict]], list[Pick]]  # the lab's rows -> zero or more picks


def _accuracy(row: dict) -> float | None:
    m = row["metrics"]
    return next((m[k] for k in ACCURACY_KEYS if m.get(k) is not None), None)


def _n(row: dict) -> int | None:
    n = row["metrics"].get("n") or row["params"].get("n_items")
    return int(n) if n else None


def _answered(rows: list[dict]) -> list[dict]:
    return [r for r in rows if _accuracy(r) is not None and _n(r)]


def _tokens_per_q(row: dict) -> float:
    c, n = row["cost"], _n(row) or 1
    return ((c.get("tokens_in") or 0) + (c.get("tokens_out") or 0)) / n


def _best(rows: list[dict]) -> dict:
    """Highest accuracy; ties go to fewer tokens per question, then the name (a stable choice)."""
    return max(rows, key=lambda r: (_accuracy(r), -_tokens_per_q(r), r["variant"]))


def variant(name: str) -> Selector:
    """The row with this variant name."""
    def select(rows):
        return [Pick((r,)) for r in _answered(rows) if r["variant"] == name][:1]
    select.describe = f"variant {name!r}"
    return select


def best_of(prefix: str) -> Selector:
    """The most accurate row whose variant starts with `prefix` (ties: fewer tokens)."""
    def select(rows):
        found = [r for r in _answered(rows) if r["variant"].startswith(prefix)]
        if not found:
            return []
        best = _best(found)
        return [Pick((best,), f"best of {len(found)} by accuracy: {best['variant']}")]
    select.describe = f"the most accurate '{prefix}*' row"
    return select


def param_variant(template: str, fallback_prefix: str) -> Selector:
    """The row named by the lab's own parameters (e.g. 'rag_k{top_k}'), else the best '<prefix>*' row."""
    def select(rows):
        answered = _answered(rows)
        for r in answered:
            try:
                wanted = template.format(**r["params"])
            except (KeyError, IndexError):
                continue
            match = [x for x in answered if x["variant"] == wanted]
            if match:
                return [Pick((match[0],), f"the lab's main pipeline: {wanted}")]
        return best_of(fallback_prefix)(rows)
    select.describe = f"variant {template!r} from the lab's parameters"
    return select


def with_components(name: str) -> Selector:
    """A combined pipeline: its row, plus the training time of the components it uses (e.g. a reranker)."""
    def select(rows):
        picked = variant(name)(rows)
        if not picked:
            return []
        chosen = set(picked[0].rows[0]["params"].get("components") or ())
        trained = tuple(r for r in rows if r["params"].get("component") in chosen and r["cost"].get("train_seconds"))
        detail = f"components {sorted(chosen)}" if chosen else "no component helped: the baseline pipeline"
        return [Pick(picked[0].rows, detail, trained)]
    select.describe = f"variant {name!r} with its components' training time"
    return select


def pooled_modes(modes: Sequence[str]) -> Selector:
    """Rows '<mode>/<question type>' pooled per mode over the types every mode answered; the best mode."""
    def select(rows):
        answered = [r for r in _answered(rows) if "/" in r["variant"] and "@" not in r["variant"]]
        by_mode = {m: {r["variant"].split("/", 1)[1]: r for r in answered if r["variant"].split("/", 1)[0] == m}
                   for m in modes}
        by_mode = {m: types for m, types in by_mode.items() if types}
        if not by_mode:
            return []
        common = sorted(set.intersection(*(set(t) for t in by_mode.values())))
        if not common:
            return []
        pooled = {m: tuple(types[t] for t in common) for m, types in by_mode.items()}
        together = {m: sum(_n(r) for r in types.values()) for m, types in by_mode.items()}

        def pooled_key(m):
            group = pooled[m]
            n = sum(_n(r) for r in group)
            return (sum(_accuracy(r) * _n(r) for r in group) / n, -sum(_tokens_per_q(r) * _n(r) for r in group), m)
        best = max(pooled, key=pooled_key)
        return [Pick(pooled[best], f"best of {sorted(pooled)} pooled over {', '.join(common)}: {best}",
                     answered_together=together[best])]
    select.describe = f"the best of {list(modes)}, pooled over question types"
    return select


def tagged(name: str) -> Selector:
    """Rows whose params['roi_approach'] == name (labs 05 and later); the most accurate when several."""
    def select(rows):
        found = [r for r in _answered(rows) if r["params"].get("roi_approach") == name]
        return [Pick((_best(found),), f"tagged roi_approach={name!r}")] if found else []
    select.describe = f"rows tagged params['roi_approach'] = {name!r}"
    return select


def tagged_family(prefix: str) -> Selector:
    """Every tag starting with `prefix` is its own approach (lab 08's serving variants)."""
    def select(rows):
        tags = sorted({r["params"]["roi_approach"] for r in _answered(rows)
                       if str(r["params"].get("roi_approach", "")).startswith(prefix)})
        return [p for tag in tags for p in tagged(tag)(rows)]
    select.describe = f"rows tagged params['roi_approach'] = '{prefix}<name>'"
    return select


@dataclass(frozen=True)
class Spec:
    """One approach: where it is measured, how its rows are chosen, where its knowledge lives."""

    key: str
    title: str
    lab: str
    select: Selector
    # where the domain knowledge lives, hence how it is kept current: none (never learned), documents
    # (re-index what changed), weights (retrain), inherit (a serving variant: as the approach it serves).
    # RAFT + RAG reads its facts from the documents: its training (reading skill) is a one-time cost.
    knowledge: str


APPROACHES: tuple[Spec, ...] = (
    Spec("closed_book", "base model, closed book", "02", variant("closed_book"), "none"),
    Spec("prompting", "best prompting technique (closed book)", "01", best_of("qa/"), "none"),
    Spec("rag", "RAG", "02", param_variant("rag_k{top_k}", "rag_k"), "documents"),
    Spec("advanced_rag", "best advanced-RAG pipeline", "03", with_components("best_combined"), "documents"),
    Spec("kg_rag", "knowledge-graph RAG", "04", pooled_modes(("graph_local", "graph_ppr", "graph_hybrid")),
         "documents"),
    Spec("lora_finetune", "LoRA fine-tuning", "05", tagged("lora_finetune"), "weights"),
    Spec("feedback_champion", "feedback-tuned champion", "06", tagged("feedback_champion"), "weights"),
    Spec("raft_rag", "RAFT fine-tuning + RAG", "07", tagged("raft_rag"), "documents"),
    Spec("serving", "serving variant", "08", tagged_family(SERVING_PREFIX), "inherit"),
)


# --------------------------------------------------------------------------- measuring a pick

def _sum_cost(rows: Sequence[dict], key: str) -> float:
    return float(sum(r["cost"].get(key) or 0 for r in rows))


def _batches(row: dict) -> int:
    batch = int(row["params"].get("batch_size") or 1)
    return math.ceil(_n(row) / max(1, batch))


def _compute_seconds(rows: Sequence[dict], together: int | None = None) -> float | None:
    """Machine seconds per question. Every question of a batch reports the batch's wall time, so a batch
    costs what its questions waited (p50), and a question its share: wait x batches / questions. Rows that
    split one batched run (`together` questions in all) share its batches."""
    if any(r["cost"].get("latency_p50_s") is None for r in rows):
        return None
    if together:
        batch = int(rows[0]["params"].get("batch_size") or 1)
        return _weighted(rows, "latency_p50_s") * math.ceil(together / max(1, batch)) / together
    total = sum(r["cost"]["latency_p50_s"] * _batches(r) for r in rows)
    return total / sum(_n(r) for r in rows)


def _weighted(rows: Sequence[dict], key: str) -> float | None:
    """The n-weighted mean of a per-row latency (exact for one row; an approximation when pooling)."""
    if any(r["cost"].get(key) is None for r in rows):
        return None
    return sum(r["cost"][key] * _n(r) for r in rows) / sum(_n(r) for r in rows)


def _device(row: dict) -> str:
    p = row["params"]
    if p.get("device") in ("cpu", "gpu"):
        return p["device"]
    return "gpu" if p.get("backend") == "vllm" or row.get("profile") == "gpu" else "cpu"


def _interval(rows: Sequence[dict], correct: int, n: int) -> tuple[float, float]:
    """The row's own interval when it carries one (a single row), else Wilson on the counts."""
    m = rows[0]["metrics"]
    if len(rows) == 1 and m.get("ci_low") is not None and m.get("ci_high") is not None:
        return float(m["ci_low"]), float(m["ci_high"])
    return wilson_interval(correct, n)


def _answers(run_dir, rows: Sequence[dict]) -> tuple[dict, ...] | None:
    """The per-question answers of every row, concatenated; None if any row has none."""
    found = []
    for r in rows:
        answers = ledger.read_answers(run_dir, r["lab"], r["variant"]) if run_dir is not None else None
        if answers is None:
            return None
        found.extend(answers)
    return tuple(found)


def measure(spec: Spec, pick: Pick, run_dir=None, *, knowledge: str | None = None) -> Measured:
    rows = pick.rows
    n = sum(_n(r) for r in rows)
    correct = round(sum(_accuracy(r) * _n(r) for r in rows))
    low, high = _interval(rows, correct, n)
    notes = []
    compute = _compute_seconds(rows, pick.answered_together)
    if compute is None:
        compute = 0.0
        notes.append("no latency recorded: compute per query taken as 0")
    index_seconds = float(sum(r["metrics"].get("index_seconds") or 0 for r in rows))
    if spec.knowledge == "documents" and not index_seconds:
        notes.append("index build time not in the ledger: indexing counted as 0")
    tag = rows[0]["params"].get("roi_approach")
    key = tag if spec.key == "serving" else spec.key
    title = f"{spec.title} ({tag[len(SERVING_PREFIX):]})" if spec.key == "serving" else spec.title
    answers = _answers(run_dir, rows)
    types = sorted({r["params"].get("question_type") for r in rows} - {None})
    return Measured(
        approach=key, title=title, lab=spec.lab, variants=tuple(r["variant"] for r in rows),
        accuracy=correct / n, n=n, ci_low=low, ci_high=high,
        latency_p50_s=_weighted(rows, "latency_p50_s"), latency_p95_s=_weighted(rows, "latency_p95_s"),
        tokens_in_per_q=_sum_cost(rows, "tokens_in") / n, tokens_out_per_q=_sum_cost(rows, "tokens_out") / n,
        compute_s_per_q=compute,
        train_seconds=_sum_cost(rows, "train_seconds") + _sum_cost(pick.extra_train_rows, "train_seconds"),
        index_seconds=index_seconds, n_labels=int(sum(r["metrics"].get("n_labels") or 0 for r in rows)),
        device=_device(rows[0]), knowledge=knowledge or spec.knowledge,
        question_set=f"lab {spec.lab}: {n} questions" + (f" ({', '.join(types)})" if types else ""),
        qids=tuple(a["qid"] for a in answers) if answers is not None else None, answers=answers,
        notes=tuple(([pick.detail] if pick.detail else []) + notes))


# --------------------------------------------------------------------------- gathering

@dataclass
class Gathered:
    """The measured approaches, the ones left out (and why), and notes on the question sets."""

    measured: list[Measured]
    missing: dict[str, str] = field(default_factory=dict)  # approach -> what to run
    dropped: dict[str, str] = field(default_factory=dict)  # approach -> why (e.g. a serving variant lost quality)
    aligned: bool = False
    notes: list[str] = field(default_factory=list)


def _rows_for(rows: list[dict], dataset: str | None, profile: str | None) -> list[dict]:
    return [r for r in rows if (dataset is None or r["dataset"] == dataset) and (profile is None or r["profile"] == profile)]


def gather(run_dir, *, dataset: str | None = None, profile: str | None = None,
           specs: Sequence[Spec] = APPROACHES, rows: list[dict] | None = None) -> Gathered:
    """Every approach the ledger has rows for (latest row per variant), for one dataset and profile."""
    every = ledger.read(run_dir) if rows is None else rows
    rows = _rows_for(every, dataset, profile)
    result = Gathered([])
    others = sorted({(r["dataset"], r["profile"]) for r in every} - {(r["dataset"], r["profile"]) for r in rows})
    if others:
        result.notes.append("ignored rows of other datasets or profiles: "
                            + ", ".join(f"{d} ({p})" for d, p in others))
    by_key: dict[str, Measured] = {}
    chunk_sizes: dict[str, int | None] = {}
    for spec in specs:
        lab_rows = [r for r in rows if r["lab"] == spec.lab]
        picks = spec.select(lab_rows)
        if not picks:
            how = (f"run lab {spec.lab} ({LAB_TITLES.get(spec.lab, '')})" if not lab_rows else
                   f"lab {spec.lab} wrote rows, but none matches {spec.select.describe}")
            result.missing[spec.key] = how
            continue
        for pick in picks:
            base = pick.rows[0]["params"].get("roi_base")
            knowledge = None
            if spec.knowledge == "inherit":  # a serving variant refreshes like the approach it serves
                knowledge = by_key[base].knowledge if base in by_key else "none"
            m = measure(spec, pick, run_dir, knowledge=knowledge)
            if spec.knowledge == "inherit" and base not in by_key:
                m = replace(m, notes=(*m.notes, f"serves {base!r}, which is not measured: refresh cost unknown"))
            if spec.key == "serving" and base in by_key:
                note = prompt_mismatch(m, by_key[base], pick.rows[0]["params"].get("top_k"))
                m = replace(m, notes=(*m.notes, note)) if note else m
            if spec.key == "serving" and base in by_key and m.ci_high < by_key[base].ci_low:
                result.dropped[m.approach] = (f"loses quality: accuracy {m.accuracy:.2f} [{m.ci_low:.2f}, "
                                              f"{m.ci_high:.2f}] lies below {base}'s interval")
                continue
            by_key[m.approach] = m
            chunk_sizes[m.approach] = pick.rows[0]["params"].get("chunk_size")
    result.measured = [_with_chunking_note(m, chunk_sizes) for m in by_key.values()]
    return align(result)


def _with_chunking_note(m: Measured, chunk_sizes: dict[str, int | None]) -> Measured:
    """A note on an approach that retrieves from an index chunked otherwise than lab 02's RAG (lab 07's workshop
    indexes 250-character chunks): its prompts are shorter or longer for that reason, not only its method's."""
    own, rag = chunk_sizes.get(m.approach), chunk_sizes.get("rag")
    if m.approach == "rag" or m.knowledge != "documents" or not own or not rag or own == rag:
        return m
    return replace(m, notes=(*m.notes, f"its index holds {own}-character chunks, RAG's {rag}: its accuracy, prompt "
                                       "tokens, latency and cost per query reflect that chunking, not only its method"))


PROMPT_MISMATCH = 0.2  # a serving variant whose prompts differ by more than this share is flagged


def prompt_mismatch(serving: Measured, base: Measured, top_k=None) -> str | None:
    """A note when a serving variant read prompts of another length than the approach it serves (lab 08 answers
    with its own `top_k`): its tokens, latency and cost per query are then those of other prompts."""
    if not serving.tokens_in_per_q or not base.tokens_in_per_q:
        return None
    ratio = serving.tokens_in_per_q / base.tokens_in_per_q
    if abs(ratio - 1) <= PROMPT_MISMATCH:
        return None
    chunks = f" (lab 08 retrieved {top_k} chunk(s) per prompt)" if top_k is not None else ""
    return (f"its prompts hold {ratio:.0%} of {base.approach}'s prompt tokens per query{chunks}: its tokens, "
            f"latency and cost per query are those of {'shorter' if ratio < 1 else 'longer'} prompts")


MIN_ALIGNED_SHARE = 0.5  # align on the common questions only when they are at least half the smallest set


def align(gathered: Gathered) -> Gathered:
    """Put every approach on the questions they all answered, when every lab kept its per-question answers."""
    measured = gathered.measured
    if len(measured) < 2:
        return gathered
    without = [m.approach for m in measured if m.qids is None]
    if without:
        gathered.notes.append(
            "the question sets could not be aligned: no per-question answers (ledger.record_answers) for "
            f"{', '.join(without)}; each approach is shown on the questions its lab answered")
        return gathered
    common = set.intersection(*(set(m.qids) for m in measured))
    if not common:
        gathered.notes.append("no question was answered by every approach: each is shown on its own questions")
        return gathered
    smallest = min(len(m.qids) for m in measured)
    if len(common) < MIN_ALIGNED_SHARE * smallest:  # e.g. labs that sample different question types
        gathered.notes.append(
            f"only {len(common)} question(s) were answered by every approach (the smallest set has {smallest}): "
            "too few to compare on, so each approach is shown on the questions its lab answered")
        return gathered
    gathered.measured = [_restrict(m, common) for m in measured]
    gathered.aligned = True
    sizes = ", ".join(f"{m.approach} {m.n}" for m in measured)
    gathered.notes.append(f"headline on the {len(common)} questions every approach answered (own sets: {sizes})")
    return gathered


def _restrict(m: Measured, qids: set[str]) -> Measured:
    kept = [a for a in m.answers if a["qid"] in qids]
    n, correct = len(kept), sum(bool(a["correct"]) for a in kept)
    low, high = wilson_interval(correct, n)
    changes = {"accuracy": correct / n, "n": n, "ci_low": low, "ci_high": high,
               "qids": tuple(a["qid"] for a in kept), "answers": tuple(kept),
               "question_set": f"{n} questions common to all (lab {m.lab} answered {m.n})"}
    for key in ("tokens_in", "tokens_out"):
        if all(a.get(key) is not None for a in kept):
            changes[f"{key}_per_q"] = sum(a[key] for a in kept) / n
    return replace(m, **changes)


def indexed(rows: list[dict], index: str = "approach"):
    """A DataFrame indexed by `index`, also when there are no rows (nothing measured yet)."""
    import pandas as pd

    return pd.DataFrame(rows, columns=None if rows else [index]).set_index(index)


def sources(measured: Sequence[Measured]):
    """Where each approach's numbers come from: its rows, its questions, its device, and notes."""
    return indexed([{"approach": m.approach, "rows": ", ".join(m.variants), "questions": m.question_set,
                     "device": m.device, "notes": "; ".join(m.notes)} for m in measured])


def describe_missing(gathered: Gathered) -> list[str]:
    """One line per approach left out: what it is and which lab to run (or why it was dropped)."""
    titles = {s.key: s.title for s in APPROACHES}
    lines = [f"{key} ({titles.get(key, key)}) is left out: {how}" for key, how in gathered.missing.items()]
    lines += [f"{key} is left out: {why}" for key, why in gathered.dropped.items()]
    return lines

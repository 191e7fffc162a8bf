"""Prompting techniques, measured: the logic behind lab 01.

A `Task` is a list of evaluation examples, a pool of training examples for few-shot prompts, an
instruction and a scorer. A `Technique` says how to prompt: zero-shot, few-shot (k examples chosen at
random or by embedding similarity), a role (system) prompt, chain-of-thought, self-consistency, and
for JSON extraction: validate-and-retry or constrained decoding. `PromptRunner.run(task, technique)`
prompts the model on every example, scores the answers and returns a `Result` (metrics, cost block,
predictions) that `record` appends to the ledger.

Prompts are LangChain templates (`ChatPromptTemplate`, `FewShotChatMessagePromptTemplate`, example
selectors), rendered to chat messages and sent through `labsutil.llm.LLM` in batches.

    tasks = load_tasks(ds, cfg)                      # {"classify": Task, "extract": Task, "qa": Task}
    runner = PromptRunner.from_config(cfg, llm, embedder)
    for technique in plan(tasks["classify"], shots=(1, 3, 5)):
        record(cfg, runner.run(tasks["classify"], technique))
"""
from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from .. import stats
from ..evaluate import contains_answer, cost_of, normalize_answer, token_f1
from ..llm import Generation
from . import structured

CLASSIFY, EXTRACT, QA = "classify", "extract", "qa"
TASKS = (CLASSIFY, EXTRACT, QA)
# the headline quality metric of each task (the y axis of the cost plot)
QUALITY = {CLASSIFY: "accuracy", EXTRACT: "field_f1", QA: "accuracy"}
KINDS = ("zero_shot", "few_shot", "role_prompt", "cot", "self_consistency", "json_retry", "json_constrained")

ROLE = ("You are a senior contracts lawyer at a law firm. You read commercial agreements carefully and "
        "answer precisely, in the exact format asked.")
COT_SUFFIX = ("Think step by step: first explain your reasoning in one or two short sentences, then write "
              "the final answer on its own last line as 'Answer: <answer>'.")
FIELD_HINTS = {  # extra words for the course's fields; other datasets' fields get their type only
    "agreement_type": "e.g. Supply Agreement",
    "party_a": "the first party's company name",
    "party_b": "the second party's company name",
    "effective_date": "YYYY-MM-DD",
    "initial_term": "e.g. 3 years or 18 months",
    "termination_notice_days": "number of days",
    "governing_law": "country",
    "payment_term_days": "number of days",
    "liability_cap": "e.g. EUR 2,500,000",
    "exclusive_territory": "null if non-exclusive",
    "confidentiality_years": "number of years",
}


class TaskDataMissing(LookupError):
    """The dataset lacks the data of a task (an optional part of the data contract)."""


# --------------------------------------------------------------------------- tasks

@dataclass(frozen=True)
class Example:
    id: str
    input: str  # the user turn, e.g. "Clause: ..."
    output: str  # the ideal assistant turn, shown in few-shot prompts
    gold: Any  # label / dict of fields / answer
    aliases: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, str]:
        return {"input": self.input, "output": self.output, "id": self.id}


@dataclass
class Task:
    name: str  # classify | extract | qa
    instruction: str  # the system message of the plain prompt
    eval: list[Example]
    pool: list[Example]  # few-shot candidates, disjoint from eval
    max_new_tokens: int  # for a direct answer
    labels: tuple[str, ...] = ()
    schema: Any = None  # pydantic model (extract)
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<Task {self.name}: {len(self.eval)} eval, {len(self.pool)} few-shot pool>"


def _split_eval_pool(records: list, n: int | None, seed: int, split_of: Callable, id_of: Callable):
    """Eval = the test split (else dev, else all); pool = train (else whatever is not in eval)."""
    by_split: dict[str, list] = {}
    for r in records:
        by_split.setdefault(split_of(r), []).append(r)
    eval_part = by_split.get("test") or by_split.get("dev") or list(records)
    eval_ids = {id_of(r) for r in eval_part}
    pool = by_split.get("train") or [r for r in records if id_of(r) not in eval_ids]
    if n is not None and n < len(eval_part):
        eval_part = sorted(random.Random(seed).sample(eval_part, n), key=id_of)
    return eval_part, pool


def label_text(label: str) -> str:
    return label.replace("_", " ")


def classification_task(records: Sequence | None, *, n: int | None = None, seed: int = 0,
                         max_new_tokens: int = 12) -> Task:
    """Clause -> clause type, scored by accuracy. Labels are those present in the data."""
    if not records:
        raise TaskDataMissing("no clause-classification data (tasks/clause_classification.jsonl)")
    labels = tuple(sorted({r.label for r in records}))
    ev, pool = _split_eval_pool(list(records), n, seed, lambda r: r.split, lambda r: r.id)
    mk = lambda r: Example(r.id, f"Clause: {r.text}", r.label, r.label)  # noqa: E731
    instruction = ("Classify the clause of a commercial agreement. Reply with exactly one clause type from "
                   "this list and nothing else: " + ", ".join(labels) + ".")
    return Task(CLASSIFY, instruction, [mk(r) for r in ev], [mk(r) for r in pool], max_new_tokens, labels=labels)


def parse_fields(value: str | Sequence[str] | None, name: str = "extract_fields") -> tuple[str, ...]:
    """ "a,b" -> ("a", "b"); "" or None -> () meaning every field. A repeated name raises ParameterError."""
    from ..config import ParameterError

    items = list(value) if isinstance(value, (list, tuple)) else [
        p.strip() for p in str(value or "").split(",") if p.strip()]
    if len(set(items)) != len(items):
        raise ParameterError(f"parameter {name!r} = {value!r} repeats a field; allowed: a comma-separated "
                             f"list of distinct field names, or '' for every field")
    return tuple(items)


def extraction_task(records: Sequence | None, *, n: int | None = None, seed: int = 0, max_new_tokens: int = 160,
                    fields: Sequence[str] | str | None = None) -> Task:
    """Agreement -> JSON of fields, scored by parse rate and field-level F1.

    The schema comes from the gold records (`fields`: a subset of their keys, in that order; default all).
    """
    if not records:
        raise TaskDataMissing("no field-extraction data (tasks/field_extraction.jsonl)")
    available = list(dict.fromkeys(k for r in records for k in r.fields))
    asked = parse_fields(fields)
    keep = tuple(f for f in asked if f in available) or tuple(available)
    notes = []
    if set(asked) - set(keep):
        notes.append(f"fields {sorted(set(asked) - set(keep))} are not in this dataset's extraction data; "
                     f"extracting {', '.join(keep)}")
    golds = {r.id: {k: r.fields.get(k) for k in keep} for r in records}
    schema = structured.schema_from_records(list(golds.values()), name="AgreementFields")
    ev, pool = _split_eval_pool(list(records), n, seed, lambda r: r.split, lambda r: r.id)
    mk = lambda r: Example(r.id, f"Agreement:\n{r.text.strip()}",  # noqa: E731
                           json.dumps(golds[r.id], ensure_ascii=False), golds[r.id])
    keys = [f"{k} ({t}{'; ' + FIELD_HINTS[k] if k in FIELD_HINTS else ''})"
            for k, t in structured.field_types(schema).items()]
    instruction = ("Extract fields from the agreement. Reply with one JSON object and nothing else, with "
                   "exactly these keys: " + ", ".join(keys) + ". Use null when the agreement does not say.")
    return Task(EXTRACT, instruction, [mk(r) for r in ev], [mk(r) for r in pool], max_new_tokens, schema=schema,
                notes=notes)


def qa_task(questions: Sequence | None, *, n: int | None = None, seed: int = 0, max_new_tokens: int = 24,
            types: Sequence[str] = ("single_hop",)) -> Task:
    """Closed-book questions about the fictional world, scored by answer containment."""
    qs = [q for q in (questions or []) if q.type in types] or list(questions or [])
    if not qs:
        raise TaskDataMissing("no questions (qa.jsonl)")
    ev, pool = _split_eval_pool(qs, n, seed, lambda q: q.split, lambda q: q.qid)
    mk = lambda q: Example(q.qid, f"Question: {q.question}", q.answer, q.answer, tuple(q.aliases))  # noqa: E731
    instruction = ("Answer the question about companies and their agreements. Reply with the short answer "
                   "only (a name, a date, an amount, a number or a country), no sentence.")
    return Task(QA, instruction, [mk(q) for q in ev], [mk(q) for q in pool], max_new_tokens)


def load_tasks(ds, cfg, *, verbose: bool = True) -> dict[str, Task]:
    """The lab's tasks that the dataset has data for; prints a note for each one that is skipped."""
    tasks: dict[str, Task] = {}
    builders = {
        CLASSIFY: lambda: classification_task(ds.clause_classification, n=cfg.n_eval, seed=cfg.seed),
        EXTRACT: lambda: extraction_task(ds.field_extraction, n=cfg.n_extract, seed=cfg.seed,
                                         max_new_tokens=cfg.extract_tokens, fields=cfg.extract_fields),
        QA: lambda: qa_task(ds.qa, n=cfg.n_eval, seed=cfg.seed, max_new_tokens=cfg.max_new_tokens),
    }
    for name, build in builders.items():
        try:
            tasks[name] = build()
            for note in tasks[name].notes if verbose else ():
                print(f"note: {name}: {note}")
        except TaskDataMissing as why:
            if verbose:
                print(f"note: skipping the {name!r} task: {why} in {ds.path}")
    return tasks


# --------------------------------------------------------------------------- techniques

@dataclass(frozen=True)
class Technique:
    kind: str  # one of KINDS
    k: int = 0  # few-shot examples
    selection: str | None = None  # "random" | "similar" (few-shot)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown technique {self.kind!r}; allowed: {', '.join(KINDS)}")
        if self.kind == "few_shot" and (self.k < 1 or self.selection not in ("random", "similar")):
            raise ValueError("few_shot needs k >= 1 and selection 'random' or 'similar'")

    @property
    def name(self) -> str:
        return f"few_shot_{self.selection}_k{self.k}" if self.kind == "few_shot" else self.kind


def parse_shots(value: str | Sequence[int], name: str = "shots") -> tuple[int, ...]:
    """ "1,3,5" -> (1, 3, 5); "" or "0" -> () (no few-shot). Raises ParameterError naming the parameter."""
    from ..config import ParameterError

    if isinstance(value, (list, tuple)):
        items = list(value)
    else:
        text = str(value).strip()
        items = [p.strip() for p in text.split(",") if p.strip()] if text not in ("", "0") else []
    try:
        shots = tuple(int(x) for x in items)
    except ValueError:
        shots = ()
        items = None
    if items is None or any(k < 1 or k > 32 for k in shots) or len(set(shots)) != len(shots):
        raise ParameterError(f"parameter {name!r} = {value!r} is not a comma-separated list of distinct "
                             f"integers from 1 to 32; allowed: e.g. '1,3,5', or '' for none")
    return tuple(sorted(shots))


def plan(task: Task, *, shots: Sequence[int] = (1, 3, 5), constrained: bool = True) -> list[Technique]:
    """The techniques measured on a task, in the order the lab runs them.

    Chain-of-thought and self-consistency apply to tasks with a short answer (classify, qa); the JSON
    techniques to extraction. Few-shot needs a non-empty pool.
    """
    out = [Technique("zero_shot")]
    if task.pool:
        for selection in ("random", "similar"):
            out += [Technique("few_shot", k, selection) for k in shots if k <= len(task.pool)]
    out.append(Technique("role_prompt"))
    if task.name == EXTRACT:
        out.append(Technique("json_retry"))
        if constrained:
            out.append(Technique("json_constrained"))
    else:
        out += [Technique("cot"), Technique("self_consistency")]
    return out


# --------------------------------------------------------------------------- LangChain templates

def to_messages(messages) -> list[dict[str, str]]:
    """LangChain messages -> the {"role", "content"} dicts that LLM.generate takes."""
    roles = {"human": "user", "ai": "assistant", "system": "system"}
    return [{"role": roles[m.type], "content": m.content} for m in messages]


def example_prompt():
    """How one example is shown: the user's input, then the ideal assistant reply."""
    from langchain_core.prompts import ChatPromptTemplate

    return ChatPromptTemplate.from_messages([("human", "{input}"), ("ai", "{output}")])


def build_template(selector=None):
    """System message, optional few-shot examples (picked per input by `selector`), then the input.

    The system text is a variable, not part of the template string, so braces in it (JSON) are safe.
    """
    from langchain_core.prompts import ChatPromptTemplate, FewShotChatMessagePromptTemplate

    parts: list = [("system", "{system}")]
    if selector is not None:
        parts.append(FewShotChatMessagePromptTemplate(example_selector=selector, example_prompt=example_prompt(),
                                                      input_variables=["input"]))
    parts.append(("human", "{input}"))
    return ChatPromptTemplate.from_messages(parts)


class SentenceEmbeddings:
    """A LangChain `Embeddings` over an already loaded sentence-transformers model (queries cached)."""

    def __new__(cls, model):
        from langchain_core.embeddings import Embeddings

        class _Impl(Embeddings):
            def __init__(self, st_model):
                self.model = st_model
                self._cache: dict[str, list[float]] = {}

            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                vecs = self.model.encode(list(texts), batch_size=32, normalize_embeddings=True,
                                         show_progress_bar=False)
                return [v.tolist() for v in vecs]

            def embed_query(self, text: str) -> list[float]:
                if text not in self._cache:
                    self._cache[text] = self.embed_documents([text])[0]
                return self._cache[text]

        return _Impl(model)


def random_selector(examples: Sequence[dict], k: int, seed: int = 0):
    """k examples drawn at random per input, reproducibly (the draw depends on seed and input only).

    Draws are nested: the k=1 example is the first of the k=3 ones, so k alone changes between rows.
    """
    from langchain_core.example_selectors import BaseExampleSelector

    class SeededRandomExampleSelector(BaseExampleSelector):
        def __init__(self):
            self.examples, self.k, self.seed = list(examples), k, seed

        def add_example(self, example: dict[str, str]) -> None:
            self.examples.append(example)

        def select_examples(self, input_variables: dict[str, str]) -> list[dict]:
            rng = random.Random(f"{self.seed}|{input_variables['input']}")
            order = rng.sample(range(len(self.examples)), min(len(self.examples), 32))
            return [self.examples[i] for i in order[: self.k]]

    return SeededRandomExampleSelector()


def similarity_selector(vectorstore, k: int, *, nearest_last: bool = True):
    """The k pool examples nearest to the input by embedding (LangChain's semantic selector).

    With `nearest_last` the nearest example sits closest to the question, as in Liu et al. (2022),
    "What Makes Good In-Context Examples for GPT-3?"; LangChain's own order is nearest first.
    """
    from langchain_core.example_selectors import SemanticSimilarityExampleSelector

    class NearestLastSelector(SemanticSimilarityExampleSelector):
        def select_examples(self, input_variables: dict[str, str]) -> list[dict]:
            return list(reversed(super().select_examples(input_variables)))

    cls = NearestLastSelector if nearest_last else SemanticSimilarityExampleSelector
    return cls(vectorstore=vectorstore, k=k, input_keys=["input"], example_keys=["input", "output", "id"])


# --------------------------------------------------------------------------- answers

_ANSWER = re.compile(r"answer\s*[:\-]\s*(.+)", re.IGNORECASE)


def final_answer(text: str) -> str:
    """The text after the last 'Answer:' (chain-of-thought replies), else the first non-empty line."""
    found = _ANSWER.findall(text)
    if found:
        return found[-1].strip()
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""


def parse_label(text: str, labels: Sequence[str], *, last: bool = False) -> str | None:
    """The clause type named in a reply: the first one mentioned (`last`: the last one), or None."""
    hay = " " + re.sub(r"[_\-]", " ", text.lower()) + " "
    hay = re.sub(r"[^a-z0-9 ]", " ", hay)
    hits = []
    for label in labels:
        needle = " " + label_text(label).lower() + " "
        pos = hay.rfind(needle) if last else hay.find(needle)
        if pos >= 0:
            hits.append((pos, -len(needle), label))
    if not hits:
        return None
    return (max if last else min)(hits, key=lambda h: (h[0], -h[1] if last else h[1]))[2]


def classify_answer(text: str, labels: Sequence[str]) -> str | None:
    """Label of a reply: after 'Answer:' when present, else the first label named (the last one for long replies)."""
    if _ANSWER.search(text):
        return parse_label(final_answer(text), labels) or parse_label(text, labels, last=True)
    return parse_label(text, labels)


def majority_vote(answers: Sequence[Any], key: Callable[[Any], Any] = lambda a: a) -> Any:
    """The most frequent answer (None votes only when nothing else was said); ties go to the earliest."""
    keyed = [(key(a), a) for a in answers]
    counted = Counter(k for k, _ in keyed if k not in (None, ""))
    if not counted:
        return answers[0] if answers else None
    best = max(counted.values())
    for k, a in keyed:
        if counted.get(k) == best:
            return a
    return None  # unreachable


# --------------------------------------------------------------------------- metrics

def accuracy(flags: Sequence[bool]) -> float:
    return float(sum(bool(f) for f in flags) / len(flags)) if flags else float("nan")


@dataclass
class Result:
    task: str
    technique: Technique
    metrics: dict
    cost: dict
    params: dict
    predictions: list[dict]  # id, gold, output (raw), answer (parsed), correct
    generations: list[Generation] = field(repr=False, default_factory=list)  # one aggregate per example

    @property
    def variant(self) -> str:
        return f"{self.task}/{self.technique.name}"

    def line(self) -> str:
        """One printable line: quality, parse rate, tokens per example, latency, wall time."""
        n = max(1, len(self.predictions))
        quality = self.metrics.get(QUALITY[self.task])
        parse = self.metrics.get("parse_rate")
        text = f"{self.variant:<34} {QUALITY[self.task]} {quality:.2f}"
        if parse is not None:
            text += f"  parse {parse:.2f}"
        per = (self.cost["tokens_in"] + self.cost["tokens_out"]) / n
        return (text + f"  tokens/example {per:6.0f}  p50 {self.cost['latency_p50_s']:.2f}s"
                f"  ({self.params['wall_s']:.0f}s, n={n})")

    def frame(self, n: int | None = None):
        import pandas as pd

        rows = self.predictions[:n] if n else self.predictions
        return pd.DataFrame(rows)


def _aggregate(parts: Sequence[Generation], text: str) -> Generation:
    """One example's cost when it took several generations (samples, retries): tokens add up; the
    example waits for each batch it is in once (samples in one batch share that batch's wall time,
    which is what every item of a batch reports as its latency)."""
    return Generation(text, sum(g.tokens_in for g in parts), sum(g.tokens_out for g in parts),
                      sum(dict.fromkeys(g.latency_s for g in parts)), parts[-1].finish_reason)


# --------------------------------------------------------------------------- the runner

class PromptRunner:
    """Runs techniques on tasks with one LLM (and an embedder for similarity-selected examples)."""

    def __init__(self, llm, embedder=None, *, seed: int = 0, batch_size: int | None = None, cot_tokens: int = 64,
                 sc_samples: int = 5, sc_temperature: float = 0.7, max_retries: int = 1,
                 sample_batch_size: int | None = None):
        self.llm, self.seed = llm, seed
        self.batch_size = batch_size or getattr(llm, "batch_size", 8)
        self.sample_batch_size = sample_batch_size or self.batch_size
        self.cot_tokens, self.sc_samples, self.sc_temperature = cot_tokens, sc_samples, sc_temperature
        self.max_retries = max_retries
        self.embeddings = SentenceEmbeddings(embedder) if embedder is not None else None
        self._stores: dict[str, Any] = {}
        self._constrainers: dict[str, Any] = {}

    @classmethod
    def from_config(cls, cfg, llm, embedder=None) -> "PromptRunner":
        # self-consistency repeats each prompt N times: a larger batch costs little more per decoding step
        sample_batch = max(cfg.batch_size, min(32, cfg.batch_size * cfg.sc_samples))
        return cls(llm, embedder, seed=cfg.seed, batch_size=cfg.batch_size, cot_tokens=cfg.cot_tokens,
                   sc_samples=cfg.sc_samples, sc_temperature=cfg.sc_temperature, max_retries=cfg.max_retries,
                   sample_batch_size=sample_batch)

    # ---- prompts
    def selector(self, task: Task, technique: Technique):
        if technique.kind != "few_shot":
            return None
        pool = [ex.as_dict() for ex in task.pool]
        if technique.selection == "random":
            return random_selector(pool, technique.k, seed=self.seed)
        return similarity_selector(self.vectorstore(task), technique.k)

    def vectorstore(self, task: Task):
        """The task's few-shot pool embedded in a LangChain InMemoryVectorStore (built once per task)."""
        if self.embeddings is None:
            raise ValueError("similarity-selected examples need an embedder: PromptRunner(llm, embedder)")
        if task.name not in self._stores:
            from langchain_core.vectorstores import InMemoryVectorStore

            pool = [ex.as_dict() for ex in task.pool]
            self._stores[task.name] = InMemoryVectorStore.from_texts(
                [ex["input"] for ex in pool], self.embeddings, metadatas=pool)
        return self._stores[task.name]

    def system_text(self, task: Task, technique: Technique) -> str:
        if technique.kind == "role_prompt":
            return f"{ROLE} {task.instruction}"
        if technique.kind in ("cot", "self_consistency"):
            return f"{task.instruction} {COT_SUFFIX}"
        return task.instruction

    def template(self, task: Task, technique: Technique):
        return build_template(self.selector(task, technique))

    def messages(self, task: Task, technique: Technique, template=None) -> list[list[dict[str, str]]]:
        """The chat messages of every eval example under a technique."""
        template = template or self.template(task, technique)
        system = self.system_text(task, technique)
        return [to_messages(template.format_messages(system=system, input=ex.input)) for ex in task.eval]

    # ---- generation
    def generate(self, prompts: list, *, max_new_tokens: int, temperature: float = 0.0,
                  batch_size: int | None = None) -> list[Generation]:
        """Batched generation, longest prompts first (less padding per batch), returned in input order."""
        llm = self.llm
        lengths = [llm.count_tokens(llm.format(p)) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: (-lengths[i], i))
        gens = llm.generate([prompts[i] for i in order], max_new_tokens=max_new_tokens, temperature=temperature,
                            seed=self.seed if temperature > 0 else None, batch_size=batch_size or self.batch_size,
                            progress=False)
        out: list[Generation | None] = [None] * len(prompts)
        for i, g in zip(order, gens):
            out[i] = g
        return out  # type: ignore[return-value]

    def constrainer(self, task: Task):
        if task.name not in self._constrainers:
            self._constrainers[task.name] = structured.JsonConstrainer(self.llm, task.schema)
        return self._constrainers[task.name]

    # ---- run one technique on one task
    def run(self, task: Task, technique: Technique) -> Result:
        start = time.perf_counter()
        prompts = self.messages(task, technique)
        kind = technique.kind
        if kind == "self_consistency":
            n = self.sc_samples
            flat = [p for p in prompts for _ in range(n)]
            samples = self.generate(flat, max_new_tokens=self.cot_tokens, temperature=self.sc_temperature,
                                     batch_size=self.sample_batch_size)
            groups = [samples[i * n:(i + 1) * n] for i in range(len(prompts))]
            outputs, gens = self._vote(task, groups)
        elif kind == "cot":
            gens = self.generate(prompts, max_new_tokens=self.cot_tokens)
            outputs = [g.text for g in gens]
        elif kind == "json_constrained":
            # the constraint ends the reply when the JSON object is complete; the cap is only a safety net,
            # so it gets headroom over the free-form replies (which run to their cap when they ramble)
            constrainer = self.constrainer(task)
            gens = constrainer.generate(prompts, max_new_tokens=2 * task.max_new_tokens, batch_size=self.batch_size)
            outputs = [g.text for g in gens]
        else:
            gens = self.generate(prompts, max_new_tokens=task.max_new_tokens)
            if kind == "json_retry":
                gens = self._retry(task, prompts, gens)
            outputs = [g.text for g in gens]
        metrics, predictions = score(task, outputs, voted=kind == "self_consistency")
        seconds = time.perf_counter() - start
        params = {"task": task.name, "technique": technique.kind, "k": technique.k,
                  "selection": technique.selection, "n_items": len(task.eval), "wall_s": round(seconds, 2)}
        if kind in ("cot", "self_consistency"):
            params["cot_tokens"] = self.cot_tokens
        if kind == "self_consistency":
            params.update(sc_samples=self.sc_samples, sc_temperature=self.sc_temperature)
        if kind == "json_retry":
            params["max_retries"] = self.max_retries
        return Result(task.name, technique, metrics, cost_of(gens), params, predictions, list(gens))

    def _vote(self, task: Task, groups: list[list[Generation]]) -> tuple[list[str], list[Generation]]:
        outputs, gens = [], []
        for group in groups:
            texts = [g.text for g in group]
            if task.name == CLASSIFY:
                labels = [classify_answer(t, task.labels) for t in texts]
                winner = majority_vote(labels)
                text = winner or texts[0]
            else:
                answers = [final_answer(t) for t in texts]
                text = majority_vote(answers, key=normalize_answer)
            outputs.append(text)
            gens.append(_aggregate(group, text))
        return outputs, gens

    def _retry(self, task: Task, prompts: list, gens: list[Generation]) -> list[Generation]:
        """Validate each reply against the schema; send the invalid ones back with the error, up to max_retries."""
        history = [[g] for g in gens]
        convos = [list(p) for p in prompts]
        for _ in range(self.max_retries):
            todo = []
            for i, parts in enumerate(history):
                parsed = structured.parse_json(parts[-1].text, task.schema)
                if not parsed.valid:
                    convos[i] = convos[i] + [
                        {"role": "assistant", "content": parts[-1].text},
                        {"role": "user", "content": f"That reply is not valid ({parsed.error}). Reply again with "
                                                    f"only the corrected JSON object, with every key."}]
                    todo.append(i)
            if not todo:
                break
            again = self.generate([convos[i] for i in todo], max_new_tokens=task.max_new_tokens)
            for i, g in zip(todo, again):
                history[i].append(g)
        return [_aggregate(parts, parts[-1].text) for parts in history]


def score(task: Task, outputs: Sequence[str], *, voted: bool = False) -> tuple[dict, list[dict]]:
    """Metrics of a task's outputs (one per eval example, in order) and per-example predictions."""
    rows: list[dict] = []
    if task.name == CLASSIFY:
        for ex, out in zip(task.eval, outputs):
            label = out if voted and out in task.labels else classify_answer(out, task.labels)
            rows.append({"id": ex.id, "gold": ex.gold, "answer": label, "correct": label == ex.gold, "output": out})
        metrics = {**stats.proportion(r["correct"] for r in rows).metrics("accuracy"),
                   **stats.proportion(r["answer"] is not None for r in rows).metrics("parse_rate", headline=False)}
    elif task.name == EXTRACT:
        parsed = [structured.parse_json(out, task.schema) for out in outputs]
        golds = [ex.gold for ex in task.eval]
        f1 = structured.field_f1(golds, [p.obj for p in parsed])
        for ex, out, p in zip(task.eval, outputs, parsed):
            s = structured.field_counts(ex.gold, p.obj)
            rows.append({"id": ex.id, "valid": p.valid, "error": p.error, "fields_right": s.tp,
                         "fields_gold": sum(not structured.is_null(v) for v in ex.gold.values()), "output": out})
        metrics = {"field_f1": f1.f1, "field_precision": f1.precision, "field_recall": f1.recall, "n": len(rows),
                   **stats.proportion(p.valid for p in parsed).metrics("parse_rate", headline=False),
                   "json_rate": accuracy([p.is_json for p in parsed])}
    elif task.name == QA:
        for ex, out in zip(task.eval, outputs):
            answer = final_answer(out)
            ok = contains_answer(answer, ex.gold, ex.aliases)
            rows.append({"id": ex.id, "question": ex.input, "gold": ex.gold, "answer": answer, "correct": ok,
                         "token_f1": token_f1(answer, ex.gold, ex.aliases), "output": out})
        metrics = {**stats.proportion(r["correct"] for r in rows).metrics("accuracy"),
                   **stats.bootstrap_mean(r["token_f1"] for r in rows).metrics("token_f1", headline=False)}
        metrics.pop("token_f1_n")
    else:
        raise ValueError(f"unknown task {task.name!r}")
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}, rows


# --------------------------------------------------------------------------- ledger and results

def record(cfg, result: Result) -> dict:
    """Append a result to the run's ledger as the row `<task>/<technique>`."""
    from .. import ledger

    answers = [{"qid": p["id"], "correct": p["correct"], "token_f1": p.get("token_f1")}
               for p in result.predictions if "correct" in p] or None
    return ledger.record(cfg, result.variant, result.metrics, cost=result.cost, params=result.params, answers=answers)


def techniques_for(task: Task, cfg, llm=None) -> list[Technique]:
    """The plan for a task under a config: `shots` (or `extract_shots` for extraction), and constrained
    decoding only when asked for and possible with this LLM."""
    shots = parse_shots(cfg.extract_shots if task.name == EXTRACT else cfg.shots,
                        "extract_shots" if task.name == EXTRACT else "shots")
    constrained = bool(cfg.constrained) and (llm is None or structured.constrained_available(llm)[0])
    return plan(task, shots=shots, constrained=constrained)


def measure(cfg, runner: PromptRunner, tasks: dict[str, Task], kind: str, *, verbose: bool = True) -> dict[str, Result]:
    """Run every planned technique of one kind on every task, append each result to the ledger, print a line each.

    Returns {variant: Result}. A task without that technique in its plan is skipped quietly; a skipped
    constrained-decoding row says why.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown technique {kind!r}; allowed: {', '.join(KINDS)}")
    out: dict[str, Result] = {}
    for task in tasks.values():
        for technique in techniques_for(task, cfg, runner.llm):
            if technique.kind != kind:
                continue
            res = runner.run(task, technique)
            record(cfg, res)
            out[res.variant] = res
            if verbose:
                print(res.line())
        if kind == "json_constrained" and task.name == EXTRACT and cfg.constrained:
            ok, why = structured.constrained_available(runner.llm)
            if not ok and verbose:
                print(f"note: skipping {task.name}/json_constrained: {why}")
    if not out and verbose:
        print(f"note: no task in this dataset uses {kind!r}")
    return out


def summary_table(rows: Sequence[dict]):
    """Technique x task: quality, parse rate, tokens per example, latency p50 / p95 (from ledger rows)."""
    import pandas as pd

    out = []
    for r in rows:
        p, m, c = r["params"], r["metrics"], r["cost"]
        n = max(1, p.get("n_items") or 1)
        task = p.get("task") or r["variant"].split("/")[0]
        out.append({
            "task": task, "technique": r["variant"].split("/", 1)[-1], "quality": m.get(QUALITY.get(task, ""), None),
            "metric": QUALITY.get(task, ""), "parse_rate": m.get("parse_rate"),
            "tokens_in": c["tokens_in"], "tokens_out": c["tokens_out"],
            "tokens_per_example": round(((c["tokens_in"] or 0) + (c["tokens_out"] or 0)) / n, 1),
            "latency_p50_s": c["latency_p50_s"], "latency_p95_s": c["latency_p95_s"], "n": n})
    df = pd.DataFrame(out)
    if df.empty:
        return df
    order = {t: i for i, t in enumerate(TASKS)}
    df["_o"] = df["task"].map(lambda t: order.get(t, 99))
    return df.sort_values(["_o"], kind="stable").drop(columns="_o").set_index(["task", "technique"])


def plot_quality_vs_tokens(rows: Sequence[dict]):
    """Quality against tokens per example (the cost), one panel per task, one point per technique."""
    import matplotlib.pyplot as plt

    df = summary_table(rows)
    tasks = [t for t in TASKS if not df.empty and t in df.index.get_level_values(0)]
    fig, axes = plt.subplots(1, max(1, len(tasks)), figsize=(5.2 * max(1, len(tasks)), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        part = df.loc[task]
        ax.scatter(part["tokens_per_example"], part["quality"], s=36)
        for name, row in part.iterrows():
            ax.annotate(name.replace("few_shot_", "fs_"), (row["tokens_per_example"], row["quality"]),
                        fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("tokens per example (in + out, log scale)")
        ax.set_ylabel(QUALITY[task])
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(task)
        ax.grid(alpha=0.3)
    fig.suptitle("Quality against cost: one point per technique")
    fig.tight_layout()
    return fig


CONFIRM_PREFIX = "confirm/"


def rows_of(cfg) -> list[dict]:
    """This run's lab-01 ledger rows of the main sample: same dataset, model and profile as `cfg` (a run folder
    may hold others); the confirmation rows (`confirm/...`) are left out."""
    from pathlib import Path

    from .. import ledger

    return [r for r in ledger.read(cfg.run_dir, lab="01")
            if r["dataset"] == Path(cfg.dataset_dir).name and r["model"] == cfg.model and r["profile"] == cfg.profile
            and not r["variant"].startswith(CONFIRM_PREFIX)]


def fresh_sample(task: Task, full: Task, n: int, seed: int = 0) -> Task | None:
    """`task` with n evaluation examples of `full` (the whole split) that `task.eval` did not use, same few-shot
    pool; None when none are left (the main sample was the whole split)."""
    used = {ex.id for ex in task.eval}
    left = [ex for ex in full.eval if ex.id not in used]
    if not left or n < 1:
        return None
    chosen = sorted(random.Random(seed).sample(left, min(n, len(left))), key=lambda ex: ex.id)
    return replace(task, eval=chosen)


def confirm_headline(cfg, runner: PromptRunner, task: Task, full: Task, results: dict[str, Result]):
    """Lab 01's headline claims on fresh examples: zero-shot, the best random and the best similar few-shot
    technique of the main sample (k chosen there) re-run on `cfg.confirm_n` examples the choice never saw, each a
    ledger row `confirm/<task>/<technique>`; Brown et al. (few-shot beats zero-shot) and Liu et al. (similar beats
    random) as paired comparisons on them. Returns a DataFrame, one row per claim (empty when nothing is left)."""
    import pandas as pd

    from .. import ledger

    fresh = fresh_sample(task, full, cfg.confirm_n, cfg.seed)
    metric = QUALITY[task.name]
    few = {sel: max((r for r in results.values() if r.task == task.name and r.technique.selection == sel),
                    key=lambda r: r.metrics[metric], default=None) for sel in ("random", "similar")}
    if fresh is None or few["similar"] is None:
        return pd.DataFrame()
    plan = {"zero_shot": Technique("zero_shot"), "random": few["random"] and few["random"].technique,
            "similar": few["similar"].technique}
    correct = {}
    for key, technique in plan.items():
        if technique is None:
            continue
        res = runner.run(fresh, technique)
        ledger.record(cfg, CONFIRM_PREFIX + res.variant, res.metrics, cost=res.cost,
                      params={**res.params, "phase": "confirm"},
                      answers=[{"qid": p["id"], "correct": p["correct"]} for p in res.predictions])
        correct[key] = (technique.name, [p["correct"] for p in res.predictions])
    out = []
    for claim, source, a, b in (("few-shot examples beat zero-shot", "Brown et al. 2020 (GPT-3)", "zero_shot", "similar"),
                                ("similar examples beat random ones", "Liu et al. 2022", "random", "similar")):
        if a not in correct:
            continue
        comparison = stats.paired_binary(correct[a][1], correct[b][1], names=(correct[a][0], correct[b][0]))
        out.append({"claim": claim, "source": source, "n (fresh examples)": comparison.n,
                    "difference (95% interval)": comparison.difference_text(),
                    "verdict": stats.verdict(comparison, "b>a").label})
    return pd.DataFrame(out)


# (claim, source, baseline technique, compared technique, smallest model size for which a gain was reported)
CLAIMS = [
    ("few-shot examples beat zero-shot", "Brown et al. 2020 (GPT-3)", ("zero_shot", None), ("few_shot", "best"), 0),
    ("similar examples beat random ones", "Liu et al. 2022", ("few_shot", "random"), ("few_shot", "similar"), 0),
    ("chain-of-thought beats answering directly", "Wei et al. 2022: gains emerge at ~100B parameters",
     ("zero_shot", None), ("cot", None), 100e9),
    ("self-consistency beats greedy chain-of-thought", "Wang et al. 2022: reported for 20B-540B models",
     ("cot", None), ("self_consistency", None), 20e9),
    ("constrained decoding makes JSON parse", "Willard & Louf 2023; by construction",
     ("zero_shot", None), ("json_constrained", None), 0),
]


NO_GAIN_MARGIN = 0.10  # "no gain at this size" holds when any gain is shown to be smaller than 10 points


def _claim_verdict(comparison, gain_expected: bool | None) -> str:
    """agrees / disagrees / cannot be decided, from the paired interval of (technique - baseline).

    Where a gain is expected (a large model): the interval above zero agrees, below zero disagrees. Where no
    gain is expected (Wei et al.: a small model gains nothing from chain-of-thought): an interval entirely
    below +NO_GAIN_MARGIN agrees, one entirely above zero disagrees. Anything else: this n cannot decide.
    """
    from .. import stats

    if comparison is None or gain_expected is None:
        return "n/a"
    if gain_expected:
        return stats.verdict(comparison, "b>a").label
    if comparison.ci_low > 0:
        return "disagrees"
    return "agrees" if comparison.ci_high < NO_GAIN_MARGIN else "cannot be decided"


def literature_check(rows: Sequence[dict], n_params: int | None = None, run_dir=None):
    """Each published claim next to this run: did the technique gain, was a gain expected at this model
    size (the claims about chain-of-thought and self-consistency are about large models), do we agree?

    `quality` compares the task's headline metric, except the JSON claim, which compares parse rates.
    For few-shot, the best k of each selection is used. With `run_dir`, the two variants' per-question
    answers (the ledger's sidecars) give a paired comparison: `difference` with its 95% interval, and
    `verdict` says agrees / disagrees / cannot be decided at this n; without them only the points are shown.
    """
    import pandas as pd

    from .. import ledger, stats

    def best_row(task: str, technique: str, selection: str | None, metric: str):
        found = [r for r in rows if r["params"].get("task") == task and r["params"].get("technique") == technique
                 and (selection in (None, "best") or r["params"].get("selection") == selection)
                 and r["metrics"].get(metric) is not None]
        return max(found, key=lambda r: r["metrics"][metric]) if found else None

    def paired(row_a: dict, row_b: dict):
        if run_dir is None:
            return None
        a = ledger.read_answers(run_dir, row_a.get("lab", "01"), row_a["variant"])
        b = ledger.read_answers(run_dir, row_b.get("lab", "01"), row_b["variant"])
        if not a or not b or [x["qid"] for x in a] != [x["qid"] for x in b]:
            return None
        return stats.paired_binary([x["correct"] for x in a], [x["correct"] for x in b])

    out = []
    for claim, source, (base, base_sel), (tech, tech_sel), min_size in CLAIMS:
        for task in TASKS:
            metric = "parse_rate" if tech == "json_constrained" else QUALITY[task]
            row_a, row_b = best_row(task, base, base_sel, metric), best_row(task, tech, tech_sel, metric)
            if row_a is None or row_b is None:
                continue
            a, b = row_a["metrics"][metric], row_b["metrics"][metric]
            expected = None if n_params is None else bool(n_params >= min_size)
            comparison = paired(row_a, row_b) if metric == "accuracy" else None
            if comparison is not None:
                verdict = _claim_verdict(comparison, expected)
            else:
                # two points without per-question outcomes to pair cannot decide a claim, whichever is higher
                verdict = "n/a" if expected is None else "cannot be decided (no per-question answers to pair)"
            name = lambda t, sel: t + (f" ({sel}, best k)" if t == "few_shot" and sel else "")  # noqa: E731
            out.append({"task": task, "claim": claim, "source": source, "metric": metric,
                        "baseline": f"{name(base, base_sel)} = {a:.2f}", "technique": f"{name(tech, tech_sel)} = {b:.2f}",
                        "gain": b > a, "difference (95% interval)": comparison.difference_text() if comparison else "",
                        "gain expected at this size": expected, "verdict": verdict})
    return pd.DataFrame(out)

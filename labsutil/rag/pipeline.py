"""Retrieval-augmented generation: grounded prompts with citations, answering, scoring.

    pipe = pipeline.RAGPipeline(dense_index, k=3)
    result = pipe.run(llm, questions, max_new_tokens=32)       # RunResult: hits, generations, records
    pipeline.summarize(result.records)                                # accuracy (overall and per type), citations

The prompt puts the retrieved chunks before the question, each headed by its `[doc_id]`, and asks for a
short answer followed by the id of the document it came from. A small model copies spans well and
reasons little, so the instructions are short and concrete.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from .. import evaluate, stats
from .retrieval import Chunk, Hit, doc_ranking, retrieval_metrics

SYSTEM = "You answer questions about company documents. Be brief and factual."

GROUNDED_INSTRUCTION = "Using the documents above, answer briefly and cite the document id in brackets."

CLOSED_BOOK_INSTRUCTION = "Answer in a few words."


# --------------------------------------------------------------------------- prompts

def format_context(chunks: Sequence[Chunk], *, max_chars: int | None = None) -> str:
    """Each chunk as `[doc_id] title` then its text; chunks of one document keep their own block."""
    blocks = []
    for c in chunks:
        text = c.text if max_chars is None else c.text[:max_chars]
        blocks.append(f"[{c.doc_id}] {c.title}\n{text}")
    return "\n\n".join(blocks)


def grounded_prompt(question: str, chunks: Sequence[Chunk]) -> str:
    """The lab-02 prompt: the documents, a one-line instruction (answer briefly, cite `[doc_id]`), the question.

    Measured on the course data with SmolLM2-135M, the question last and a short instruction gave the best
    accuracy among the variants tried (an example answer in the instruction gets copied verbatim).
    """
    return f"{format_context(chunks)}\n\n{GROUNDED_INSTRUCTION}\nQuestion: {question}"


def closed_book_prompt(question: str) -> str:
    return f"Question: {question}\n{CLOSED_BOOK_INSTRUCTION}"


# --------------------------------------------------------------------------- citations and scoring

_CITATION = re.compile(r"\[([^\[\]\s]{1,80})\]")


def citations(text: str) -> list[str]:
    """Ids cited as `[doc_id]` in an answer, in order, each once."""
    return list(dict.fromkeys(m.group(1).strip() for m in _CITATION.finditer(text)))


def strip_citations(text: str) -> str:
    return _CITATION.sub(" ", text).strip()


@dataclass
class Record:
    """One question's outcome: what was retrieved, said, and whether it was right."""

    qid: str
    type: str
    question: str
    answer: str
    prediction: str
    correct: bool
    retrieved: list[str] = field(default_factory=list)  # doc ids in rank order
    gold: list[str] = field(default_factory=list)
    cited: list[str] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    extra: dict = field(default_factory=dict)
    token_f1: float = 0.0  # SQuAD token F1 against the gold answer: fair to a correct paraphrase


def is_correct(question, text: str) -> bool:
    """The normalised gold answer or an alias is contained in the answer (citations removed).

    A comparison question lists its candidates, so an answer naming several of them is a hedge, not an
    answer: when the question has `choices`, naming any wrong choice as well makes it wrong.
    """
    text = strip_citations(text)
    if not evaluate.contains_answer(text, question.answer, question.aliases):
        return False
    if question.type == "comparison" and getattr(question, "choices", None):
        gold = {evaluate.normalize_answer(a) for a in (question.answer, *question.aliases)}
        others = [c for c in question.choices if evaluate.normalize_answer(c) not in gold]
        if any(evaluate.contains_answer(text, c) for c in others):
            return False
    return True


def score(question, generation, retrieved: Sequence[str] = ()) -> Record:
    """Score one answer (see `is_correct`) and parse its citations."""
    text = generation.text
    return Record(question.qid, question.type, question.question, question.answer, text,
                  is_correct(question, text), list(retrieved), list(question.doc_ids), citations(text),
                  generation.tokens_in, generation.tokens_out, generation.latency_s,
                  token_f1=round(evaluate.token_f1(strip_citations(text), question.answer, question.aliases), 4))


_STOP = frozenset("the a an of is in to and or for by on at under with was are be this that it its as from".split())


def attribute(prediction: str, chunks: Sequence[Chunk], question: str = "") -> str | None:
    """Post-hoc attribution: the doc_id of the context chunk sharing the most answer words with the prediction
    (words of the question do not count: they are in every chunk the question retrieved)."""
    asked = set(evaluate.normalize_answer(question).split())
    words = {w for w in evaluate.normalize_answer(strip_citations(prediction)).split()
             if w not in _STOP and w not in asked}
    if not words or not chunks:
        return None
    overlap = [len(words & set(evaluate.normalize_answer(c.text).split())) for c in chunks]
    best = max(range(len(chunks)), key=lambda i: overlap[i])
    return chunks[best].doc_id if overlap[best] else None


def citation_metrics(records: Sequence[Record]) -> dict[str, float]:
    """citation_rate: answers citing anything; citation_accuracy: answers citing at least one gold
    document; citation_precision: cited ids that are gold; citation_faithful: cited ids that were in the
    context shown to the model (not invented); attributed_citation_accuracy: post-hoc attribution (`attribute`)
    lands on a gold document, for pipelines that record it."""
    with_gold = [r for r in records if r.gold]
    if not with_gold:
        return {}
    cited = [r for r in with_gold if r.cited]
    all_ids = [(c, r) for r in with_gold for c in r.cited]
    return {
        "citation_rate": round(len(cited) / len(with_gold), 4),
        "citation_accuracy": round(sum(bool(set(r.cited) & set(r.gold)) for r in with_gold) / len(with_gold), 4),
        "citation_precision": round(sum(c in r.gold for c, r in all_ids) / len(all_ids), 4) if all_ids else 0.0,
        "citation_faithful": round(sum(c in r.retrieved for c, r in all_ids) / len(all_ids), 4) if all_ids else 0.0,
        **({"attributed_citation_accuracy": round(sum(r.extra.get("attributed") in r.gold for r in with_gold)
                                                  / len(with_gold), 4)}
           if any("attributed" in r.extra for r in with_gold) else {}),
    }


INTERVAL_SUFFIXES = ("_ci_low", "_ci_high", "_n")


def type_accuracy_keys(metrics: dict) -> list[str]:
    """The per-type accuracies `acc_<type>` of a summary (not their interval fields)."""
    return [k for k in metrics if k.startswith("acc_") and not k.endswith(INTERVAL_SUFFIXES)]


def summarize(records: Sequence[Record], *, by_type: bool = True, with_citations: bool = True) -> dict[str, float]:
    """answer_accuracy with its n and Wilson 95% interval, token F1 (mean, bootstrap interval), `acc_<type>`
    per question type with its interval, plus citation metrics."""
    out: dict[str, float] = stats.proportion(r.correct for r in records).metrics("answer_accuracy")
    out.update(stats.bootstrap_mean(r.token_f1 for r in records).metrics("token_f1", headline=False))
    del out["token_f1_n"]  # the same n as the accuracy
    if by_type:
        for qtype in dict.fromkeys(r.type for r in records):
            fields = stats.proportion(r.correct for r in records if r.type == qtype).metrics(f"acc_{qtype}",
                                                                                            headline=False)
            fields[f"n_{qtype}"] = fields.pop(f"acc_{qtype}_n")  # the name the labs have always read
            out.update(fields)
    if with_citations:
        out.update(citation_metrics(records))
    return out


def frame(records: Sequence[Record]):
    import pandas as pd

    return pd.DataFrame([{"qid": r.qid, "type": r.type, "question": r.question, "gold": r.answer,
                          "prediction": r.prediction, "correct": r.correct, "cited": r.cited,
                          "gold_docs": r.gold, "retrieved": r.retrieved[:5]} for r in records])


# --------------------------------------------------------------------------- answering

#: wall-clock seconds spent in LLM calls made through `generate` (pipelines subtract it to time retrieval)
LLM_WALL_SECONDS = [0.0]


class AnswerCache:
    """Prompt text -> Generation. Greedy decoding is deterministic, so an identical prompt needs no second
    run: ablations that leave a question's context unchanged reuse its answer (with its original cost)."""

    def __init__(self):
        self.store: dict[tuple, Any] = {}
        self.hits = 0

    def __len__(self) -> int:
        return len(self.store)


def generate(llm, prompts: Sequence[str], *, max_new_tokens: int, system: str | None = SYSTEM,
             batch_size: int | None = None, cache: AnswerCache | None = None, progress: bool | None = None,
             prefix: str = ""):
    """llm.generate with an optional cache keyed by (system, prompt, max_new_tokens, prefix).

    `prefix` starts the assistant's reply for it (the model continues from there); the returned text
    includes it.
    """
    keys = [(system, p, max_new_tokens, prefix) for p in prompts]
    todo = list(dict.fromkeys(k for k in keys if cache is None or k not in cache.store))
    start = time.perf_counter()
    if todo:
        # sort by length so that a batch pads little (the model sees exactly the same text)
        order = sorted(range(len(todo)), key=lambda i: len(todo[i][1]))
        if prefix:
            texts = [llm.format(todo[i][1], system=system) + prefix for i in order]
            gens = llm.generate(texts, max_new_tokens=max_new_tokens, chat=False, batch_size=batch_size,
                                progress=progress)
            gens = [replace(g, text=prefix + g.text) for g in gens]
        else:
            gens = llm.generate([todo[i][1] for i in order], max_new_tokens=max_new_tokens, system=system,
                                batch_size=batch_size, progress=progress)
        fresh = {todo[i]: g for i, g in zip(order, gens)}
    else:
        fresh = {}
    LLM_WALL_SECONDS[0] += time.perf_counter() - start
    if cache is not None:
        cache.hits += len(keys) - len(fresh)  # answers not generated by this call
        cache.store.update(fresh)
        return [cache.store[k] for k in keys]
    return [fresh[k] for k in keys]


def closed_book(llm, questions: Sequence, *, max_new_tokens: int, batch_size: int | None = None,
                cache: AnswerCache | None = None) -> list[Record]:
    gens = generate(llm, [closed_book_prompt(q.question) for q in questions], max_new_tokens=max_new_tokens,
                    batch_size=batch_size, cache=cache)
    return [score(q, g) for q, g in zip(questions, gens)]


@dataclass
class RunResult:
    hits: list[list[Hit]]
    contexts: list[list[Chunk]]
    generations: list
    records: list[Record]
    retrieval_seconds: float
    extra_generations: list = field(default_factory=list)  # LLM calls made before retrieval (rewrite, HyDE...)

    def cost(self) -> dict:
        """The ledger cost block for the whole pipeline: answer + pre/post-retrieval LLM calls, and the
        retrieval time per question added to each answer's latency."""
        per_q = self.retrieval_seconds / max(1, len(self.records))
        gens = [_with_latency(g, g.latency_s + per_q) for g in self.generations]
        c = evaluate.cost_of(gens)
        if self.extra_generations:
            extra = evaluate.cost_of(self.extra_generations)
            c["tokens_in"] += extra["tokens_in"]
            c["tokens_out"] += extra["tokens_out"]
            extra_per_q = sum(g.latency_s for g in self.extra_generations) / max(1, len(self.records))
            c["latency_p50_s"] = round(c["latency_p50_s"] + extra_per_q, 4)
            c["latency_p95_s"] = round(c["latency_p95_s"] + extra_per_q, 4)
        return c


def _with_latency(g, latency: float):
    from dataclasses import replace

    return replace(g, latency_s=latency)


class RAGPipeline:
    """retrieve(question) -> k chunks -> grounded prompt -> answer. Subclasses in `labsutil.rag.advanced` add steps."""

    def __init__(self, retriever, k: int = 3, *, prompt: Callable[[str, Sequence[Chunk]], str] = grounded_prompt,
                 system: str | None = SYSTEM):
        self.retriever, self.k, self.prompt, self.system = retriever, k, prompt, system

    def retrieve(self, llm, questions: Sequence) -> tuple[list[list[Hit]], list]:
        """Ranked hits for each question (deeper than k, for the retrieval metrics) and any LLM calls made."""
        return self.retriever.search([q.question for q in questions], max(self.k, 10)), []

    def contexts(self, questions: Sequence, hits: list[list[Hit]]) -> list[list[Chunk]]:
        return [[h.chunk for h in hs[:self.k]] for hs in hits]

    def run(self, llm, questions: Sequence, *, max_new_tokens: int = 32, batch_size: int | None = None,
            cache: AnswerCache | None = None, answer: bool = True) -> RunResult:
        start, llm_before = time.perf_counter(), LLM_WALL_SECONDS[0]
        hits, extra = self.retrieve(llm, questions)
        contexts = self.contexts(questions, hits)
        seconds = time.perf_counter() - start - (LLM_WALL_SECONDS[0] - llm_before)
        if not answer:
            return RunResult(hits, contexts, [], [], max(0.0, seconds), extra)
        prompts = [self.prompt(q.question, ctx) for q, ctx in zip(questions, contexts)]
        gens = generate(llm, prompts, max_new_tokens=max_new_tokens, system=self.system,
                        batch_size=batch_size, cache=cache)
        records = [score(q, g, list(dict.fromkeys(c.doc_id for c in ctx)))
                   for q, g, ctx in zip(questions, gens, contexts)]
        for r, ctx in zip(records, contexts):
            r.extra["attributed"] = attribute(r.prediction, ctx, r.question)
        return RunResult(hits, contexts, gens, records, max(0.0, seconds), extra)


def retrieval_report(questions: Sequence, hits: Sequence[Sequence[Hit]], ks: Sequence[int] = (1, 3, 5, 10)) -> dict:
    """Retrieval metrics of ranked hits against each question's gold `doc_ids` (questions without any skipped)."""
    return retrieval_metrics([doc_ranking(h) for h in hits], [q.doc_ids for q in questions], ks)


def context_report(questions: Sequence, contexts: Sequence[Sequence[Chunk]]) -> dict:
    """What actually reached the prompt: gold-document recall of the context, and its size in characters."""
    pairs = [(q, c) for q, c in zip(questions, contexts) if q.doc_ids]
    if not pairs:
        return {}
    recall = [len(set(q.doc_ids) & {x.doc_id for x in c}) / len(set(q.doc_ids)) for q, c in pairs]
    return {"context_recall": round(sum(recall) / len(recall), 4),
            "context_chars": round(sum(sum(len(x.text) for x in c) for _, c in pairs) / len(pairs), 1)}


# --------------------------------------------------------------------------- question selection

def pick_questions(ds, types: Sequence[str], n: int | None, seed: int = 0, *, split: str = "test",
                   balanced: bool = False, verbose: bool = True) -> tuple[list[str], list, list]:
    """(types present, every question of those types in the split, an evaluation sample of n).

    Types the dataset lacks are skipped with a printed note. The sample is stratified by type:
    proportional to the split (`ds.questions`), or with `balanced` an equal share per type (rare
    types such as multi-hop get enough questions to measure), each in file order. A printed note
    names the types with fewer than `stats.EXPLORATORY_BELOW` questions in the sample: exploratory.
    """
    present = [t for t in types if ds.questions(split=split, types=[t])]
    missing = [t for t in types if t not in present]
    if verbose and missing:
        print(f"note: no {', '.join(missing)} questions in the {split} split of {ds.name}: "
              f"the sections that need them are skipped")
    if not present:
        raise ValueError(f"no questions of types {list(types)} in the {split} split of {ds.name}")
    pool = ds.questions(split=split, types=present)
    if n is None or n >= len(pool):
        sample = pool
    elif balanced:
        sample = balanced_sample(pool, present, n, seed)
    else:
        sample = ds.questions(split=split, types=present, n=n, seed=seed)
    note = stats.exploratory_note({t: sum(q.type == t for q in sample) for t in present})
    if verbose and note:
        print(note)
    return present, pool, sample


def balanced_sample(pool: Sequence, types: Sequence[str], n: int, seed: int) -> list:
    """n questions of `pool`, an equal share per type (a type with too few gives its share to the others)."""
    import random

    rng = random.Random(seed)
    groups = {t: [q for q in pool if q.type == t] for t in types}
    quota = {t: 0 for t in types}
    left = n
    while left > 0:  # deal one question at a time to the types that still have some
        progressed = False
        for t in types:
            if left and quota[t] < len(groups[t]):
                quota[t] += 1
                left -= 1
                progressed = True
        if not progressed:
            break
    chosen = {q.qid for t in types for q in rng.sample(groups[t], quota[t])}
    return [q for q in pool if q.qid in chosen]


def subsample(questions: Sequence, n: int | None, seed: int = 0) -> list:
    """A type-stratified subset of a question list (proportional, largest remainder), in the given order."""
    import random

    if n is None or n >= len(questions):
        return list(questions)
    rng = random.Random(seed)
    groups: dict[str, list[int]] = {}
    for i, q in enumerate(questions):
        groups.setdefault(q.type, []).append(i)
    exact = {t: n * len(ix) / len(questions) for t, ix in groups.items()}
    quota = {t: int(v) for t, v in exact.items()}
    for t in sorted(groups, key=lambda t: -(exact[t] - quota[t]))[: n - sum(quota.values())]:
        quota[t] += 1
    chosen = sorted(i for t, ix in groups.items() for i in rng.sample(ix, quota[t]))
    return [questions[i] for i in chosen]

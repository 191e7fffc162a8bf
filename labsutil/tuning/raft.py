"""RAG + fine-tuning (lab 07): RAFT training data, the variants' prompts, and the checks that keep it honest.

RAFT (Zhang et al. 2024, *RAFT: Adapting Language Model to Domain Specific RAG*) trains on a question with
its oracle document(s) plus distractor documents, the oracle present in only P% of the examples: the model
learns to find the answer among distractors, and (where the oracle is missing) to rely on what it learned.

    rows = raft.examples(index, train_qs, p_oracle=0.6, distractors=2, context_chars=None)
    raft.dsf_examples(train_qs)                           # domain fine-tuning: question -> answer, no documents
    raft.leakage(rows, test_qs)                           # {"by_id": 0, "by_text": 0}: no test question trained

Prompts are lab 02's grounded prompt (documents headed by `[doc_id]`, a one-line instruction, the question)
with each chunk cut to `context_chars` (None: whole; training cost grows with tokens). Answers are the gold answer and
the oracle's id in brackets, as lab 02's prompt asks; with `quote=True` the answer first quotes the oracle
sentence that supports it (RAFT's chain-of-thought answers, shortened for a 135M model), and only the text
after "Answer:" is scored (the quote contains the answer, it must not count).

Distractors are hard: the chunks retrieved for the question that come from other documents. The oracle chunk
of a document is its chunk that contains the gold answer (else its chunk closest to the question).
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Sequence

from ..evaluate import contains_answer, normalize_answer
from ..rag.pipeline import GROUNDED_INSTRUCTION, SYSTEM, closed_book_prompt, format_context
from ..rag.retrieval import Chunk

ANSWER_MARK = "Answer:"
ABSTAIN_ANSWER = "unanswerable"


@dataclass(frozen=True)
class Context:
    """The documents shown with one question, and whether its oracle is among them."""

    chunks: tuple[Chunk, ...]
    oracle_present: bool


def prompt(question: str, chunks: Sequence[Chunk], context_chars: int | None) -> str:
    return f"{format_context(chunks, max_chars=context_chars)}\n\n{GROUNDED_INSTRUCTION}\nQuestion: {question}"


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def oracle_chunks(index, question) -> list[Chunk]:
    """For each supporting document: its chunk containing the gold answer, else the one closest to the question."""
    out = []
    vector = None
    for doc_id in question.doc_ids:
        rows = index.rows_of([doc_id])
        chunks = [index.chunks[r] for r in rows]
        holding = [c for c in chunks if contains_answer(c.text, question.answer, question.aliases)]
        if holding:
            out.append(holding[0])
            continue
        if vector is None:
            vector = index.embed_queries([question.question])[0]
        hits = index.search_within(vector, [doc_id], 1)
        if hits:
            out.append(hits[0].chunk)
    return out


def hard_distractors(index, questions: Sequence, n: int, *, depth: int = 20) -> list[list[Chunk]]:
    """`n` chunks per question from other documents, in retrieval order (one chunk per document). The search
    reaches past the question's own documents' chunks (a 1,200-character document is ~6 chunks of 250), so
    a question with several documents still gets `n` distractors."""
    if n == 0:
        return [[] for _ in questions]
    own = max((len(q.doc_ids) for q in questions), default=1)
    hits = index.search([q.question for q in questions], min(len(index), max(depth, 3 * n + 8 * own)))
    out = []
    for q, hs in zip(questions, hits):
        seen, picked = set(q.doc_ids), []
        for h in hs:
            if h.chunk.doc_id not in seen:
                seen.add(h.chunk.doc_id)
                picked.append(h.chunk)
            if len(picked) == n:
                break
        out.append(picked)
    return out


def oracle_contexts(index, questions: Sequence, distractors: int, *, seed: int = 0,
                    p_oracle: float = 1.0) -> list[Context]:
    """Oracle chunk(s) plus `distractors` hard distractors per question, shuffled (seeded); with `p_oracle` < 1
    the oracle is left out of that share of questions (replaced by one more distractor per oracle chunk)."""
    rng = random.Random(seed)
    extra = max(1, max((len(q.doc_ids) for q in questions), default=1))
    pools = hard_distractors(index, questions, distractors + extra)
    contexts = []
    for q, pool in zip(questions, pools):
        oracle = oracle_chunks(index, q) if q.doc_ids else []
        present = bool(oracle) and rng.random() < p_oracle
        chunks = oracle + pool[:distractors] if present else pool[:distractors + max(1, len(oracle))]
        chunks = list(chunks)
        rng.shuffle(chunks)
        contexts.append(Context(tuple(chunks), present))
    return contexts


def supporting_sentence(question, chunks: Sequence[Chunk]) -> str | None:
    """The first sentence of the shown chunks that contains the gold answer (RAFT's quote)."""
    for c in chunks:
        for s in _sentences(c.text):
            if contains_answer(s, question.answer, question.aliases):
                return s
    return None


def answer_text(question, context: Context, *, quote: bool = False) -> str:
    """The training answer: gold answer and the oracle's id; with `quote`, the supporting sentence first."""
    cited = [c.doc_id for c in context.chunks if c.doc_id in question.doc_ids]
    answer = question.answer + (f" [{cited[0]}]" if cited else "")
    if not quote:
        return answer
    sentence = supporting_sentence(question, context.chunks) if context.oracle_present else None
    lead = f'Quote: "{sentence}"\n' if sentence else "Quote: none\n"
    return f"{lead}{ANSWER_MARK} {answer}"


def scored_part(text: str, *, quote: bool = False) -> str:
    """What is scored of an answer: with `quote`, only the text after the last "Answer:" (nothing when the mark
    is missing: the quote holds the gold answer and must not be scored as the answer); else all of it."""
    if not quote:
        return text
    return text.rsplit(ANSWER_MARK, 1)[-1].strip() if ANSWER_MARK in text else ""


def _chat(user: str, answer: str) -> dict:
    return {"prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
            "completion": [{"role": "assistant", "content": answer}], "qid": None}


def examples(index, questions: Sequence, *, p_oracle: float, distractors: int, context_chars: int | None, seed: int = 0,
             quote: bool = False) -> list[dict]:
    """RAFT examples (prompt/completion rows with the question id kept for the leakage check)."""
    questions = [q for q in questions if q.answerable and q.doc_ids]
    contexts = oracle_contexts(index, questions, distractors, seed=seed, p_oracle=p_oracle)
    rows = []
    for q, ctx in zip(questions, contexts):
        row = _chat(prompt(q.question, ctx.chunks, context_chars), answer_text(q, ctx, quote=quote))
        rows.append({**row, "qid": q.qid, "oracle_present": ctx.oracle_present})
    return rows


def dsf_examples(questions: Sequence) -> list[dict]:
    """Domain-specific fine-tuning: the closed-book prompt and the gold answer, no documents."""
    return [{**_chat(closed_book_prompt(q.question), q.answer), "qid": q.qid, "oracle_present": False}
            for q in questions if q.answerable]


def to_dataset(rows: Sequence[dict]):
    """TRL's prompt/completion dataset (the bookkeeping columns dropped)."""
    from datasets import Dataset

    return Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows])


def leakage(rows: Sequence[dict], test_questions: Sequence) -> dict:
    """Test questions seen in training: by question id, and by normalised text inside any training prompt."""
    test_ids = {q.qid for q in test_questions}
    by_id = sorted({r["qid"] for r in rows} & test_ids)
    prompts = [normalize_answer(r["prompt"][-1]["content"]) for r in rows]
    by_text = sorted(q.qid for q in test_questions
                     if any(normalize_answer(q.question) in p for p in prompts))
    return {"by_id": len(by_id), "by_text": len(by_text), "examples": by_id[:3] + by_text[:3]}


def fit_length(rows: Sequence[dict], model: str, max_length: int) -> tuple[list[dict], int]:
    """(rows whose chat-formatted prompt + answer fit in `max_length` tokens, how many did not). The trainer
    would cut a longer row's end, the answer, and learn nothing from it: such rows are left out, and counted."""
    from transformers import AutoTokenizer

    from .. import models

    tokenizer = AutoTokenizer.from_pretrained(models.resolve_llm(model).path)
    kept = [r for r in rows if len(tokenizer.apply_chat_template(r["prompt"] + r["completion"], tokenize=True,
                                                                 return_dict=True)["input_ids"]) <= max_length]
    return kept, len(rows) - len(kept)


def oracle_share(rows: Sequence[dict]) -> float:
    return round(sum(r["oracle_present"] for r in rows) / len(rows), 4) if rows else float("nan")


# --------------------------------------------------------------------------- evaluation

def answer(llm, questions: Sequence, contexts: Sequence[Sequence[Chunk]] | None, *, context_chars: int | None,
           max_new_tokens: int, batch_size: int | None = None, quote: bool = False, cache=None) -> list:
    """Scored records: each question asked with its chunks (None: closed book), greedy; with `quote` only the
    text after "Answer:" is scored (and cited documents are read from it)."""
    from dataclasses import replace

    from ..rag import pipeline

    if contexts is None:
        prompts = [closed_book_prompt(q.question) for q in questions]
        shown = [[] for _ in questions]
    else:
        prompts = [prompt(q.question, c, context_chars) for q, c in zip(questions, contexts)]
        shown = [list(dict.fromkeys(ch.doc_id for ch in c)) for c in contexts]
    gens = pipeline.generate(llm, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size, cache=cache)
    records = []
    for q, g, docs in zip(questions, gens, shown):
        record = pipeline.score(q, replace(g, text=scored_part(g.text, quote=True)) if quote else g, docs)
        record.extra["raw"] = g.text
        record.extra["answer_mark"] = ANSWER_MARK in g.text
        records.append(record)
    return records


def retrieved_contexts(index, questions: Sequence, k: int) -> list[list[Chunk]]:
    """The realistic case: the top-k retrieved chunks (lab 02's retrieval)."""
    return [[h.chunk for h in hs[:k]] for hs in index.search([q.question for q in questions], k)]


def metrics(records: Sequence) -> dict:
    """Accuracy (headline, n, Wilson interval) and per type, with each type's n and interval."""
    from ..rag import pipeline

    return pipeline.summarize(list(records), by_type=True, with_citations=False)

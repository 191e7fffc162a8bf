"""Training data for knowledge injection, as `datasets.Dataset`, from a course dataset folder.

Four recipes teach the same documents in different shapes (Ovadia et al. 2023; Allen-Zhu & Li 2023):

- `documents`: the raw documents, for plain next-token training (a `text` column; the loss covers every token);
- `facts` with `paraphrases=0`: each fact of `facts.jsonl` stated once, as a chat example;
- `facts` with `paraphrases=k`: each fact plus its first k paraphrases (k = 1, 3, 5);
- `qa`: train-split question/answer pairs about the documents.

Chat examples are TRL's conversational prompt/completion format (`prompt`: system + user messages,
`completion`: the assistant message), so the trainer's completion-only loss covers the answer, not the
prompt. They use the system message and the closed-book prompt of the evaluation (`labsutil.rag.pipeline`),
so the model is trained on the text it is asked with.

`pick_documents` chooses, deterministically, the documents to train on: enough that at least N test
questions are about them (every supporting document chosen). `question_sets` gives the evaluation
questions: test questions about trained documents, and test questions about documents not trained.

Two guards keep the evaluation honest:
- the last paraphrase of a course fact is in question-answer form, and some of those are word for word a
  test question: `facts(..., exclude=questions)` drops any paraphrase that contains an evaluation question;
- `facts(..., questions=...)` keeps only the facts that state the answer of one of those questions (one or
  two per question on the course data instead of every fact of the documents): the knowledge the test asks
  about, at a fraction of the training time. The questions' wording is never trained on.

A dataset without `facts.jsonl` has no fact recipes: they return None and the caller prints a note.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..data import Dataset as CourseDataset
from ..data import QAItem
from ..evaluate import contains_answer, normalize_answer
from ..rag.pipeline import SYSTEM, closed_book_prompt

RECIPES = ("documents", "facts", "qa")
DEFAULT_TYPES = ("single_hop",)  # one fact answers one question; multi-hop needs composition, a separate question
FACT_PROMPT = 'State a fact from "{title}".'


@dataclass(frozen=True)
class QuestionSets:
    """Evaluation questions: about the trained documents (every supporting document trained) and about others."""

    trained: tuple[QAItem, ...]
    untrained: tuple[QAItem, ...]


def _candidates(ds: CourseDataset, types: Sequence[str] | None, split: str) -> list[QAItem]:
    return [q for q in ds.questions(split=split, types=tuple(types or DEFAULT_TYPES)) if q.doc_ids and q.answerable]


def pick_documents(ds: CourseDataset, min_test_questions: int, seed: int = 0,
                   types: Sequence[str] | None = None) -> list[str]:
    """The documents to train on, in corpus order: added question by question (a seeded order) until at least
    `min_test_questions` test questions of `types` have all their supporting documents chosen.

    Deterministic for the same data and seed. A dataset with fewer such questions gives all of them (the caller
    sees it in `question_sets`).
    """
    if min_test_questions < 1:
        raise ValueError(f"min_test_questions must be >= 1, got {min_test_questions}")
    questions = _candidates(ds, types, "test")
    order = list(range(len(questions)))
    random.Random(seed).shuffle(order)
    chosen: set[str] = set()
    for index in order:
        chosen.update(questions[index].doc_ids)
        if sum(set(q.doc_ids) <= chosen for q in questions) >= min_test_questions:
            break
    return [d for d in ds.doc_ids if d in chosen]


def question_sets(ds: CourseDataset, doc_ids: Iterable[str], types: Sequence[str] | None = None,
                  split: str = "test") -> QuestionSets:
    chosen = set(doc_ids)
    questions = _candidates(ds, types, split)
    return QuestionSets(trained=tuple(q for q in questions if set(q.doc_ids) <= chosen),
                        untrained=tuple(q for q in questions if not set(q.doc_ids) & chosen))


def _chat(user: str, answer: str) -> dict:
    return {"prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
            "completion": [{"role": "assistant", "content": answer}]}


def _hf(rows: list[dict]):
    from datasets import Dataset

    return Dataset.from_list(rows)


def documents(ds: CourseDataset, doc_ids: Iterable[str]):
    """Raw documents (title, blank line, text) for unsupervised next-token training."""
    rows = [{"text": f"{d.title}\n\n{d.text.strip()}"} for d in ds.docs(doc_ids)]
    return _hf(rows) if rows else None


def _states_question(text: str, questions: Sequence[str]) -> bool:
    haystack = f" {normalize_answer(text)} "
    return any(f" {q} " in haystack for q in questions)


def facts(ds: CourseDataset, doc_ids: Iterable[str], paraphrases: int = 0, *,
          questions: Sequence[QAItem] | None = None, exclude: Sequence[QAItem] = ()):
    """Each fact of the documents as a chat example, plus its first `paraphrases` paraphrases as more examples.

    `questions`: keep only facts that state the answer (or an alias) of one of these questions about the fact's
    document. `exclude`: drop any wording that contains one of these questions word for word. None when the
    dataset has no facts.jsonl (or nothing is left).
    """
    if ds.facts is None:
        return None
    if paraphrases < 0:
        raise ValueError(f"paraphrases must be >= 0, got {paraphrases}")
    chosen = set(doc_ids)
    titles = {d: ds.doc(d).title for d in chosen}
    banned = [normalize_answer(q.question) for q in exclude]
    rows = []
    for fact in ds.facts:
        if fact.doc_id not in chosen:
            continue
        if questions is not None and not any(fact.doc_id in q.doc_ids and contains_answer(fact.text, q.answer, q.aliases)
                                             for q in questions):
            continue
        for text in fact.texts[:1 + paraphrases]:
            if not _states_question(text, banned):
                rows.append(_chat(FACT_PROMPT.format(title=titles[fact.doc_id]), text))
    return _hf(rows) if rows else None


def qa(ds: CourseDataset, doc_ids: Iterable[str], *, split: str = "train", types: Sequence[str] | None = None):
    """Question/answer pairs of `split` whose supporting documents are all among `doc_ids`, in the closed-book
    prompt of the evaluation. None when there are none."""
    chosen = set(doc_ids)
    kinds = tuple(types) if types else None
    rows = [_chat(closed_book_prompt(q.question), q.answer) for q in ds.questions(split=split, types=kinds)
            if q.doc_ids and q.answerable and set(q.doc_ids) <= chosen]
    return _hf(rows) if rows else None


def build(recipe: str, ds: CourseDataset, doc_ids: Iterable[str], *, paraphrases: int = 0,
          questions: Sequence[QAItem] | None = None, exclude: Sequence[QAItem] = (),
          qa_types: Sequence[str] | None = None):
    """One recipe by name (`documents`, `facts`, `qa`); None when the dataset cannot make it."""
    doc_ids = list(doc_ids)
    if recipe == "documents":
        return documents(ds, doc_ids)
    if recipe == "facts":
        return facts(ds, doc_ids, paraphrases, questions=questions, exclude=exclude)
    if recipe == "qa":
        return qa(ds, doc_ids, types=qa_types)
    raise ValueError(f"recipe {recipe!r} is not known; allowed: {', '.join(RECIPES)}")


def describe(recipe: str, paraphrases: int = 0) -> str:
    """A short name for tables and ledger variants."""
    if recipe == "facts":
        return "facts" if paraphrases == 0 else f"facts+{paraphrases}para"
    return recipe


def preview(row: dict, chars: int = 160) -> str:
    """One training example as a line of text (a table cell)."""
    if "text" in row:
        return row["text"][:chars].replace("\n", " ") + (" ..." if len(row["text"]) > chars else "")
    return f"[user] {row['prompt'][-1]['content']}  ->  [assistant] {row['completion'][0]['content']}"

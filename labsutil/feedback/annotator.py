"""A simulated annotator: judges answers against the gold answers so the loop can run unattended.

It writes the same feedback rows a person writes in the widget (a pairwise verdict, a thumb on each
answer, and an edit of each answer it finds wrong), so everything downstream is the same code whoever
labelled. Two knobs make it imperfect on purpose:

- `noise`: the probability that any one judgement is flipped to its opposite (seeded), the model of a
  careless annotator: thumbs up <-> down, "A better" <-> "B better", tie <-> both wrong;
- `flip=True`: every judgement flipped, and edits "correct" answers to a wrong answer (another
  question's gold answer): a deliberately corrupted round, which the gate must reject.

Correctness is the course's scoring rule, `labsutil.rag.pipeline.is_correct` (the gold answer or an
alias contained in the answer, citations removed, hedges between comparison choices wrong).
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from ..rag.pipeline import is_correct
from .store import Interaction

OPPOSITE = {"up": "down", "down": "up", "a": "b", "b": "a", "tie": "both_wrong", "both_wrong": "tie"}


@dataclass(frozen=True)
class Judgement:
    value: str    # what the annotator reports
    truth: str    # what the gold answer says
    flipped: bool


def pair_truth(a_correct: bool, b_correct: bool) -> str:
    if a_correct and b_correct:
        return "tie"
    if not (a_correct or b_correct):
        return "both_wrong"
    return "a" if a_correct else "b"


class SimulatedAnnotator:
    """Judges against the gold answers of `questions` (data-contract QAItems), with seeded noise."""

    def __init__(self, questions: Iterable, *, noise: float = 0.0, flip: bool = False, edits: bool = True,
                 cite: bool = False, seed: int = 0, name: str = "simulated"):
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"noise={noise!r}: a probability from 0 to 1")
        self.questions = {q.qid: q for q in questions}
        self.noise, self.flip, self.edits, self.cite, self.name = noise, flip, edits, cite, name
        self._rng = random.Random(seed)
        self.stats: Counter = Counter()  # judgements made, and how many were reported flipped

    # ------------------------------------------------------------------ judgements
    def _question(self, question_id: str):
        try:
            return self.questions[question_id]
        except KeyError:
            raise KeyError(f"question {question_id!r} has no gold answer in this annotator's questions") from None

    def is_correct(self, question_id: str, text: str) -> bool:
        return is_correct(self._question(question_id), text)

    def _report(self, truth: str) -> Judgement:
        flipped = self.flip
        if self._rng.random() < self.noise:  # drawn every time, so a seed gives one sequence whatever the values
            flipped = not flipped
        self.stats["judgements"] += 1
        self.stats["flipped"] += int(flipped)
        return Judgement(OPPOSITE[truth] if flipped else truth, truth, flipped)

    def thumbs(self, question_id: str, text: str) -> Judgement:
        return self._report("up" if self.is_correct(question_id, text) else "down")

    def judge_pair(self, question_id: str, text_a: str, text_b: str) -> Judgement:
        return self._report(pair_truth(self.is_correct(question_id, text_a), self.is_correct(question_id, text_b)))

    def correction(self, question_id: str) -> str:
        """The edit it writes: the gold answer, or under `flip` another question's (a wrong answer)."""
        q = self._question(question_id)
        if self.flip:
            same_type = sorted(o.answer for o in self.questions.values()
                               if o.qid != q.qid and o.type == q.type and not is_correct(q, o.answer))
            others = same_type or sorted(o.answer for o in self.questions.values()
                                         if o.qid != q.qid and not is_correct(q, o.answer))
            if not others:
                raise ValueError("flip mode needs a second question with a different answer to give wrong edits")
            answer = self._rng.choice(others)
        else:
            answer = q.answer
        return f"{answer} [{q.doc_ids[0]}]" if self.cite and q.doc_ids else answer

    # ------------------------------------------------------------------ feedback rows
    def _row(self, interaction: Interaction, kind: str, value, reason: str, other: Interaction | None = None,
             round: int | None = None) -> dict:
        return dict(interaction_id=interaction.id, other_interaction_id=None if other is None else other.id,
                    kind=kind, value=value, reason=reason, source="simulated", annotator=self.name, round=round)

    def label_answer(self, interaction: Interaction, *, round: int | None = None) -> list[dict]:
        """A thumb on one answer, and an edit when the thumb is down (and edits are on)."""
        judged = self.thumbs(interaction.question_id, interaction.response)
        rows = [self._row(interaction, "thumbs", judged.value, _reason(judged, "the answer"), round=round)]
        if self.edits and judged.value == "down":
            rows.append(self._row(interaction, "edit", self.correction(interaction.question_id),
                                  "corrected to the gold answer" if not self.flip else "corrected", round=round))
        return rows

    def label_pair(self, a: Interaction, b: Interaction, *, round: int | None = None) -> list[dict]:
        """What a person gives in the widget: the pairwise verdict, then a thumb (and edit) on each answer."""
        if a.question_id != b.question_id:
            raise ValueError(f"a pair answers one question: {a.question_id!r} and {b.question_id!r} differ")
        judged = self.judge_pair(a.question_id, a.response, b.response)
        rows = [self._row(a, "pairwise", judged.value, _reason(judged, "pair"), other=b, round=round)]
        return rows + self.label_answer(a, round=round) + self.label_answer(b, round=round)


_REASONS = {"up": "{what} contains the gold answer", "down": "{what} misses the gold answer",
            "a": "A contains the gold answer, B does not", "b": "B contains the gold answer, A does not",
            "tie": "both contain the gold answer", "both_wrong": "neither contains the gold answer"}


def _reason(judged: Judgement, what: str) -> str:
    text = _REASONS[judged.truth].format(what=what)
    return f"{text} (reported flipped: {judged.value})" if judged.flipped else text

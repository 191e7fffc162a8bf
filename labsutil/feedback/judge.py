"""The LLM as a pairwise judge (RLAIF), and how far to trust it.

An LLM judge prefers the answer shown first more often than it should (position bias: MT-Bench, Zheng et
al. 2023, found GPT-4 consistent under swapping in 65% of cases). So every pair is asked twice, the second
time with the answers swapped; the verdict stands only when both orders agree, and anything else (two
different winners, a tie, an unreadable reply) counts as a tie. The reference-guided variant also shows
the retrieved document(s), so the judge can check an answer against its source instead of guessing.

Two ways to read the verdict:
- `method="generate"`: the judge writes a reply and `parse_verdict` reads "A", "B" or a tie from it
  (MT-Bench's `[[A]]` form too); a reply it cannot read is counted;
- `method="loglikelihood"`: the judge's probability of "A" against "B" after the prompt, which always
  yields a verdict (useful for a small model that does not follow the reply format).

`agreement` measures the judge against reference labels (e.g. the simulated annotator's): accuracy,
Cohen's kappa (scikit-learn) and order consistency, with Wilson 95% intervals.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

from .store import Interaction

JUDGE_SYSTEM = "You are a strict, fair judge of answers to questions."
PAIRWISE_TEMPLATE = (
    "Question: {question}\n\n"
    "Answer A: {a}\n\n"
    "Answer B: {b}\n\n"
    "Which answer is better: correct and to the point? Reply with one letter: A or B (T if they are equally good)."
)
REFERENCE_TEMPLATE = (
    "Document:\n{documents}\n\n"
    "Question: {question}\n\n"
    "Answer A: {a}\n\n"
    "Answer B: {b}\n\n"
    "Which answer is better according to the document? Reply with one letter: A or B (T if they are equally good)."
)
FIRST, SECOND = {"A": "a", "B": "b", "tie": "tie"}, {"A": "b", "B": "a", "tie": "tie"}  # shown order -> pair

_BRACKETED = re.compile(r"\[\[\s*([ABC])\s*\]\]")
_NAMED = re.compile(r"\b(?:answer|assistant|option)\s*\(?([AB])\)?(?![A-Za-z])", re.IGNORECASE)
_LEADING = re.compile(r"^\W*([AB])(?![A-Za-z])")
_BETTER = re.compile(r"(?<![A-Za-z])([AB])\)?\s+is\s+(?:the\s+)?(?:better|best|correct|more accurate)")
_TIE = re.compile(r"^\W*(?:T(?![A-Za-z])|tie\b|equal|both\b|neither\b|same\b)", re.IGNORECASE)


def parse_verdict(text: str) -> str | None:
    """"A", "B" or "tie" from a judge's reply, or None when the reply names no verdict."""
    text = text.strip()
    bracketed = _BRACKETED.search(text)
    if bracketed:
        return {"A": "A", "B": "B", "C": "tie"}[bracketed.group(1)]
    if _TIE.search(text):
        return "tie"
    leading = _LEADING.search(text)
    if leading:
        return leading.group(1)
    better = {m for m in _BETTER.findall(text)}
    if len(better) == 1:
        return better.pop()
    named = {m.upper() for m in _NAMED.findall(text)}
    return named.pop() if len(named) == 1 else None


@dataclass(frozen=True)
class JudgeItem:
    question: str
    answer_a: str
    answer_b: str
    documents: tuple[str, ...] = ()


@dataclass(frozen=True)
class PairVerdict:
    """Both asks of one pair. `verdict` is "a", "b" or "tie" in the pair's own order."""

    first: str | None   # reading of the reply with A = answer_a (None: unreadable)
    second: str | None  # reading of the reply with the answers swapped, mapped back to the pair's order
    verdict: str
    replies: tuple[str, str] = ("", "")

    @property
    def consistent(self) -> bool:
        return self.first is not None and self.first == self.second

    @property
    def readable(self) -> bool:
        return self.first is not None and self.second is not None


def combine(first: str | None, second: str | None) -> str:
    """The pair's verdict from both orders: it stands only when both agree; otherwise a tie."""
    return first if first is not None and first == second else "tie"


class PairwiseJudge:
    """Asks `llm` which of two answers is better, in both orders."""

    def __init__(self, llm, *, reference_guided: bool = False, method: str = "generate",
                 max_new_tokens: int = 8, system: str | None = JUDGE_SYSTEM, max_document_chars: int = 2000,
                 name: str | None = None):
        if method not in ("generate", "loglikelihood"):
            raise ValueError(f"method={method!r}: one of 'generate', 'loglikelihood'")
        self.llm, self.reference_guided, self.method = llm, reference_guided, method
        self.max_new_tokens, self.system, self.max_document_chars = max_new_tokens, system, max_document_chars
        model = getattr(llm, "name", None) or type(llm).__name__
        self.name = name or f"judge:{model}:{'reference' if reference_guided else 'plain'}:{method}"

    def prompt(self, item: JudgeItem, *, swapped: bool = False) -> str:
        a, b = (item.answer_b, item.answer_a) if swapped else (item.answer_a, item.answer_b)
        if not self.reference_guided:
            return PAIRWISE_TEMPLATE.format(question=item.question, a=a, b=b)
        if not item.documents:
            raise ValueError("the reference-guided judge needs the retrieved document(s) of each item")
        documents = "\n\n".join(item.documents)[: self.max_document_chars]
        return REFERENCE_TEMPLATE.format(documents=documents, question=item.question, a=a, b=b)

    def _ask(self, prompts: list[str]) -> list[tuple[str | None, str]]:
        if self.method == "generate":
            gens = self.llm.generate(prompts, max_new_tokens=self.max_new_tokens, system=self.system)
            return [(parse_verdict(g.text), g.text) for g in gens]
        if hasattr(self.llm, "loglikelihood_many"):  # batched across prompts: a few forward passes in all
            scores = self.llm.loglikelihood_many([(p, ["A", "B"]) for p in prompts], system=self.system)
        else:
            scores = [self.llm.loglikelihood(p, ["A", "B"], system=self.system) for p in prompts]
        return [("A" if a >= b else "B", f"logp(A)={a:.3f} logp(B)={b:.3f}") for a, b in scores]

    def judge(self, items: Sequence[JudgeItem]) -> list[PairVerdict]:
        """One verdict per item; the 2n prompts go to the model in one batch."""
        items = list(items)
        prompts = [self.prompt(i) for i in items] + [self.prompt(i, swapped=True) for i in items]
        asked = self._ask(prompts)
        verdicts = []
        for k in range(len(items)):
            (first_raw, first_reply), (second_raw, second_reply) = asked[k], asked[k + len(items)]
            first = None if first_raw is None else FIRST[first_raw]
            second = None if second_raw is None else SECOND[second_raw]
            verdicts.append(PairVerdict(first, second, combine(first, second), (first_reply, second_reply)))
        return verdicts

    def feedback_rows(self, pairs: Sequence[tuple[Interaction, Interaction]], verdicts: Sequence[PairVerdict],
                      *, round: int | None = None) -> list[dict]:
        """The verdicts as the store's pairwise feedback rows (source "ai-judge")."""
        if len(pairs) != len(verdicts):
            raise ValueError(f"{len(pairs)} pairs but {len(verdicts)} verdicts")
        return [dict(interaction_id=a.id, other_interaction_id=b.id, kind="pairwise", value=v.verdict,
                     reason=f"as shown: {v.first}; swapped: {v.second}"
                            + ("" if v.consistent or v.verdict != "tie" else " (inconsistent: counted as a tie)"),
                     source="ai-judge", annotator=self.name, round=round)
                for (a, b), v in zip(pairs, verdicts)]


def _wilson(successes: int, n: int) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    from .. import stats

    low, high = stats.wilson(successes, n)
    return round(float(low), 4), round(float(high), 4)


def _three_way(label: str) -> str:
    # The judge cannot say "both wrong"; for agreement it means what a tie means: no answer preferred.
    return "tie" if label == "both_wrong" else label


def agreement(verdicts: Sequence[PairVerdict], reference: Sequence[str]) -> dict:
    """The judge against reference labels ("a", "b", "tie", "both_wrong" per pair).

    - `judge_accuracy`: share of pairs where the judge's verdict equals the reference's (both wrong = tie);
    - `judge_decisive_accuracy`: the same on the pairs the reference decides (a or b);
    - `judge_kappa`: Cohen's kappa over the three labels a / b / tie (chance-corrected agreement);
    - `order_consistency`: share of pairs whose two orders gave the same reading;
    - `first_position_rate`: share of readable single asks that chose the answer shown first (0.5 = no bias);
    - `unreadable_replies`: asks whose reply named no verdict.
    """
    from sklearn.metrics import cohen_kappa_score

    if len(verdicts) != len(reference):
        raise ValueError(f"{len(verdicts)} verdicts but {len(reference)} reference labels")
    judged = [v.verdict for v in verdicts]
    truth = [_three_way(r) for r in reference]
    n = len(judged)
    hits = sum(j == t for j, t in zip(judged, truth))
    decisive = [(j, t) for j, t in zip(judged, truth) if t in ("a", "b")]
    decisive_hits = sum(j == t for j, t in decisive)
    consistent = sum(v.consistent for v in verdicts)
    shown_first = [v.first == "a" for v in verdicts if v.first in ("a", "b")]
    shown_first += [v.second == "b" for v in verdicts if v.second in ("a", "b")]  # swapped: b was shown first
    kappa = (float(cohen_kappa_score(truth, judged, labels=["a", "b", "tie"]))
             if n and len(set(truth) | set(judged)) > 1 else float("nan"))
    accuracy = hits / n if n else float("nan")
    low, high = _wilson(hits, n)
    dec_low, dec_high = _wilson(decisive_hits, len(decisive))
    cons_low, cons_high = _wilson(consistent, n)
    return {
        "judge_accuracy": round(accuracy, 4), "n": n, "ci_low": low, "ci_high": high,
        "judge_decisive_accuracy": round(decisive_hits / len(decisive), 4) if decisive else float("nan"),
        "judge_decisive_accuracy_n": len(decisive), "judge_decisive_accuracy_ci_low": dec_low,
        "judge_decisive_accuracy_ci_high": dec_high,
        "judge_kappa": kappa if math.isnan(kappa) else round(kappa, 4),
        "order_consistency": round(consistent / n, 4) if n else float("nan"),
        "order_consistency_ci_low": cons_low, "order_consistency_ci_high": cons_high,
        "first_position_rate": round(sum(shown_first) / len(shown_first), 4) if shown_first else float("nan"),
        "unreadable_replies": sum((v.first is None) + (v.second is None) for v in verdicts),
    }

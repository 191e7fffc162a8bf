"""Cost formulas in closed form: one-time and recurring cost, break-even volumes, refresh cadence, Pareto
frontier and a cascade. Every function takes measured quantities and prices and does arithmetic only.

    one-time     = train_s x price/h / 3600 + index_s x price/h / 3600 + labels x price/label
                   (+ engineer hours x price/h when given)
    per query    = compute_s_per_query x price/h / 3600          (recurring; x 1,000 for "per 1k queries")
    API per 1k   = 1,000 x (tokens_in x price_in + tokens_out x price_out) / 1,000,000   (outside comparison)
    per correct  = per query / accuracy
    total(V)     = fixed + V x per query;  break-even V* = (fixed_b - fixed_a) / (rate_a - rate_b)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from .approaches import Measured
from .prices import Prices

CADENCES = {"monthly": 1.0, "quarterly": 1 / 3, "yearly": 1 / 12}  # retrainings per month


@dataclass(frozen=True)
class Costs:
    approach: str
    train: float
    index: float
    labels: float
    engineer: float
    per_query: float
    api_per_query: float
    accuracy: float

    @property
    def one_time(self) -> float:
        return self.train + self.index + self.labels + self.engineer

    @property
    def per_1k(self) -> float:
        return 1000 * self.per_query

    @property
    def api_per_1k(self) -> float:
        return 1000 * self.api_per_query

    @property
    def per_correct(self) -> float | None:
        """Recurring cost of one correct answer; None when the approach answered nothing correctly."""
        return self.per_query / self.accuracy if self.accuracy > 0 else None


def costs(m: Measured, prices: Prices) -> Costs:
    hour = prices.hour(m.device)
    return Costs(
        approach=m.approach,
        train=m.train_seconds * hour / 3600,
        index=m.index_seconds * hour / 3600,
        labels=m.n_labels * prices["label"],
        engineer=prices.engineer_hours.get(m.approach, 0.0) * prices["engineer_hour"],
        per_query=m.compute_s_per_q * hour / 3600,
        api_per_query=(m.tokens_in_per_q * prices["api_input_per_million"]
                       + m.tokens_out_per_q * prices["api_output_per_million"]) / 1e6,
        accuracy=m.accuracy,
    )


# --------------------------------------------------------------------------- break-even

@dataclass(frozen=True)
class BreakEven:
    """Where the cost lines fixed + V x rate of two approaches cross.

    kind: 'crosses' (at `volume` > 0: below it `cheaper_below` costs less, above it `cheaper_above`),
    'never' (one is cheaper at every positive volume: `cheaper_below` == `cheaper_above`), or
    'equal' (the same cost at every volume).
    """

    kind: str
    volume: float | None
    cheaper_below: str | None
    cheaper_above: str | None

    def describe(self, unit: str = "queries") -> str:
        if self.kind == "equal":
            return "always equal"
        if self.kind == "never":
            return f"never: {self.cheaper_below} is always cheaper"
        return f"{self.volume:,.0f} {unit}: {self.cheaper_below} below, {self.cheaper_above} above"


def break_even(fixed_a: float, rate_a: float, fixed_b: float, rate_b: float, names=("a", "b"),
               rel_tol: float = 1e-9) -> BreakEven:
    """Solve fixed_a + V rate_a = fixed_b + V rate_b for V > 0, in closed form."""
    a, b = names
    same_rate = math.isclose(rate_a, rate_b, rel_tol=rel_tol, abs_tol=1e-15)
    same_fixed = math.isclose(fixed_a, fixed_b, rel_tol=rel_tol, abs_tol=1e-12)
    if same_rate and same_fixed:
        return BreakEven("equal", None, None, None)
    if same_rate:
        cheaper = a if fixed_a < fixed_b else b
        return BreakEven("never", None, cheaper, cheaper)
    volume = (fixed_b - fixed_a) / (rate_a - rate_b)
    if volume <= 0 or same_fixed:  # the lines meet at V <= 0: the lower rate wins at every positive volume
        cheaper = a if rate_a < rate_b else b
        return BreakEven("never", None, cheaper, cheaper)
    return BreakEven("crosses", volume, a if fixed_a < fixed_b else b, a if rate_a < rate_b else b)


def pairs(items: Sequence) -> list[tuple]:
    return [(items[i], items[j]) for i in range(len(items)) for j in range(i + 1, len(items))]


# --------------------------------------------------------------------------- refresh: retraining vs re-indexing

def changed_share(docs_per_month: float, n_docs: int, months: float) -> float:
    """Share of documents changed `months` after a refresh, if each update hits a document at random."""
    if n_docs <= 0 or months <= 0 or docs_per_month <= 0:
        return 0.0
    return 1 - math.exp(-docs_per_month * months / n_docs)


def mean_stale_share(docs_per_month: float, n_docs: int, period_months: float) -> float:
    """Average share of changed documents over a refresh period: (1/T) x integral of changed_share over [0, T]."""
    if n_docs <= 0 or period_months <= 0 or docs_per_month <= 0:
        return 0.0
    x = docs_per_month * period_months / n_docs
    return 1 - (1 - math.exp(-x)) / x


def refresh_per_month(m: Measured, c: Costs, *, retrains_per_month: float, docs_per_month: float,
                      n_docs: int) -> float:
    """What keeping the knowledge current costs per month.

    weights: retrain (the whole one-time cost) `retrains_per_month` times; documents: re-embed the changed
    documents (their share of the index build); none: nothing to refresh (and nothing learned).
    """
    if m.knowledge == "weights":
        return retrains_per_month * c.one_time
    if m.knowledge == "documents" and n_docs > 0:
        return c.index * min(1.0, docs_per_month / n_docs)
    return 0.0


def monthly_cost(m: Measured, c: Costs, volume: float, *, retrains_per_month: float, docs_per_month: float,
                 n_docs: int) -> float:
    """Steady-state cost of a month: keeping knowledge current plus answering `volume` queries."""
    return refresh_per_month(m, c, retrains_per_month=retrains_per_month, docs_per_month=docs_per_month,
                             n_docs=n_docs) + volume * c.per_query


def stale_share(m: Measured, *, retrains_per_month: float, docs_per_month: float, n_docs: int) -> float | None:
    """Average share of the knowledge out of date: 0 for RAG (re-indexed on change), the period average for
    a retrained model, None for an approach that never learns the documents."""
    if m.knowledge == "weights":
        return mean_stale_share(docs_per_month, n_docs, 1 / retrains_per_month)
    if m.knowledge == "documents":
        return 0.0
    return None


def retraining_frequency_break_even(weights: Costs, docs_side: Costs, *, volume: float, docs_refresh: float) -> float | None:
    """Retrainings per month at which a retrained model costs as much as a re-indexed one at `volume`:
    f* = (docs_refresh + volume x (rate_docs - rate_weights)) / one_time_weights; None when no positive f*."""
    if weights.one_time <= 0:
        return None
    f = (docs_refresh + volume * (docs_side.per_query - weights.per_query)) / weights.one_time
    return f if f > 0 else None


# --------------------------------------------------------------------------- Pareto and cascade

def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """Names of the (accuracy, cost) points no other point beats on both (higher accuracy, lower cost)."""
    front = []
    for name, (acc, cost) in points.items():
        dominated = any(a >= acc and c <= cost and (a > acc or c < cost)
                        for other, (a, c) in points.items() if other != name)
        if not dominated:
            front.append(name)
    return sorted(front, key=lambda n: (points[n][1], -points[n][0]))


@dataclass(frozen=True)
class Cascade:
    """A cheap approach first, the strong one for the questions it gets wrong (FrugalGPT-style), on the
    questions both answered. The router is an oracle, so this is the best any cascade can do."""

    cheap: str
    strong: str
    n: int
    cheap_accuracy: float
    strong_accuracy: float
    cascade_accuracy: float
    escalated: float  # share of questions sent to the strong approach
    cost_per_query: float
    strong_cost_per_query: float

    @property
    def max_escalation(self) -> float:
        """Escalation share at which the cascade costs as much as the strong approach alone: 1 - c_cheap / c_strong."""
        cheap_cost = self.cost_per_query - self.escalated * self.strong_cost_per_query
        return 1 - cheap_cost / self.strong_cost_per_query if self.strong_cost_per_query > 0 else 0.0

    @property
    def cheaper_at_equal_quality(self) -> bool:
        return self.cascade_accuracy >= self.strong_accuracy and self.cost_per_query < self.strong_cost_per_query


def cascade(cheap: Measured, strong: Measured, cheap_cost: Costs, strong_cost: Costs) -> Cascade | None:
    """None when the per-question answers needed to pair the two approaches are not there."""
    if cheap.answers is None or strong.answers is None:
        return None
    a = {x["qid"]: bool(x["correct"]) for x in cheap.answers}
    b = {x["qid"]: bool(x["correct"]) for x in strong.answers}
    common = sorted(set(a) & set(b))
    if not common:
        return None
    n = len(common)
    escalated = sum(not a[q] for q in common) / n
    return Cascade(cheap.approach, strong.approach, n,
                   cheap_accuracy=sum(a[q] for q in common) / n, strong_accuracy=sum(b[q] for q in common) / n,
                   cascade_accuracy=sum(a[q] or b[q] for q in common) / n, escalated=escalated,
                   cost_per_query=cheap_cost.per_query + escalated * strong_cost.per_query,
                   strong_cost_per_query=strong_cost.per_query)

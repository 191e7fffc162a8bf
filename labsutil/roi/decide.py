"""From numbers to a decision: scenarios, the stated rules that pick an approach, and how much the choice
depends on each price.

The rules (`RULES`) are the same for every scenario; a scenario only sets the volume, how fast the
knowledge changes, how often a fine-tuned model is retrained, and the hard limits (latency, no GPU).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from . import costs as C
from .approaches import Measured
from .prices import Prices

RULES = (
    "1. Eligible: the approaches that answered at least one question right and meet the scenario's hard limits "
    "(p95 latency at or under the limit; measured on a CPU when there is no GPU).",
    "2. Quality bar: the most accurate eligible approach sets it; another approach ties with it when its "
    "accuracy lies inside that approach's 95% interval.",
    "3. Among the tied approaches, the lowest monthly cost wins: keeping knowledge current (retraining at the "
    "scenario's cadence, or re-indexing changed documents) plus the month's queries x the cost per query. "
    "Equal costs: fewer tokens per query, then the name.",
)


@dataclass(frozen=True)
class Scenario:
    name: str
    volume: float  # queries per month
    retrains_per_month: float
    docs_per_month: float
    n_docs: int
    latency_limit_s: float | None = None
    gpu: bool = True

    def describe(self) -> str:
        bits = [f"{self.volume:,.0f} queries/month", f"{self.docs_per_month:g} of {self.n_docs} documents change "
                f"per month", f"retraining every {1 / self.retrains_per_month:g} months"]
        if self.latency_limit_s is not None:
            bits.append(f"p95 latency <= {self.latency_limit_s:g} s")
        if not self.gpu:
            bits.append("no GPU")
        return ", ".join(bits)


# share of the documents changing per month and retraining cadence of the two knowledge scenarios
FAST_CHANGE_SHARE, FAST_RETRAINS = 0.10, 1.0  # a tenth of the documents each month; retrain monthly
STABLE_CHANGE_SHARE, STABLE_RETRAINS = 0.01, 1 / 12  # a hundredth each month; retrain yearly


def scenarios(*, monthly_queries: float, docs_per_month: float, retrain_every_months: float, n_docs: int,
              low_volume: float, high_volume: float, latency_limit_s: float) -> list[Scenario]:
    """The user's own situation and the four standard scenarios, from the lab's parameters."""
    yours = dict(volume=monthly_queries, retrains_per_month=1 / retrain_every_months, docs_per_month=docs_per_month,
                 n_docs=n_docs)
    return [
        Scenario("your situation", **yours),
        Scenario("low volume, fast-changing knowledge", low_volume, FAST_RETRAINS, FAST_CHANGE_SHARE * n_docs, n_docs),
        Scenario("high volume, stable knowledge", high_volume, STABLE_RETRAINS, STABLE_CHANGE_SHARE * n_docs, n_docs),
        Scenario("strict latency", **yours, latency_limit_s=latency_limit_s),
        Scenario("no GPU", **yours, gpu=False),
    ]


def monthly(m: Measured, c: C.Costs, s: Scenario) -> float:
    return C.monthly_cost(m, c, s.volume, retrains_per_month=s.retrains_per_month, docs_per_month=s.docs_per_month,
                          n_docs=s.n_docs)


@dataclass
class Recommendation:
    scenario: Scenario
    choice: str | None
    reason: str
    eligible: list[str] = field(default_factory=list)
    tied: list[str] = field(default_factory=list)  # in order of monthly cost
    monthly: dict[str, float] = field(default_factory=dict)  # every approach's monthly cost in this scenario


def _eligible(m: Measured, s: Scenario) -> str | None:
    """Why an approach is not eligible in a scenario (None: it is)."""
    if m.accuracy <= 0:
        return "never right"
    if s.latency_limit_s is not None:
        if m.latency_p95_s is None:
            return "no latency measured"
        if m.latency_p95_s > s.latency_limit_s:
            return f"p95 {m.latency_p95_s:.2f} s"
    if not s.gpu and m.device == "gpu":
        return "measured on a GPU"
    return None


def recommend(measured: Sequence[Measured], prices: Prices, s: Scenario) -> Recommendation:
    """Apply `RULES` to the measured approaches in scenario `s`."""
    cost = {m.approach: C.costs(m, prices) for m in measured}
    month = {m.approach: monthly(m, cost[m.approach], s) for m in measured}
    excluded = {m.approach: why for m in measured if (why := _eligible(m, s))}
    eligible = [m for m in measured if m.approach not in excluded]
    if not eligible:
        limits = "; ".join(f"{k}: {v}" for k, v in excluded.items()) or "nothing measured"
        return Recommendation(s, None, f"no measured approach meets the limits ({limits})", [], [], month)
    best = max(eligible, key=lambda m: (m.accuracy, m.n))
    tied = [m for m in eligible if best.ci_low <= m.accuracy <= best.ci_high or m is best]
    tied.sort(key=lambda m: (month[m.approach], m.tokens_in_per_q + m.tokens_out_per_q, m.approach))
    choice = tied[0]
    others = [m.approach for m in tied[1:]]
    reason = (f"{choice.approach}: accuracy {choice.accuracy:.2f} [{choice.ci_low:.2f}, {choice.ci_high:.2f}], "
              f"{prices.currency} {month[choice.approach]:,.2f}/month; "
              + (f"the most accurate is {best.approach} ({best.accuracy:.2f} [{best.ci_low:.2f}, {best.ci_high:.2f}])"
                 if best is not choice else "the most accurate eligible approach")
              + (f"; tied on quality with {', '.join(others)} (cheapest of them)" if others else "; no other is tied")
              + (f"; excluded: {', '.join(f'{k} ({v})' for k, v in excluded.items())}" if excluded else ""))
    return Recommendation(s, choice.approach, reason, [m.approach for m in eligible], [m.approach for m in tied], month)


def recommendations_frame(recs: Sequence[Recommendation]):
    import pandas as pd

    return pd.DataFrame([{"scenario": r.scenario.name, "recommended": r.choice or "none",
                          "conditions": r.scenario.describe(), "why": r.reason} for r in recs]).set_index("scenario")


# --------------------------------------------------------------------------- sensitivity

@dataclass(frozen=True)
class Swing:
    price: str
    factor: float
    choice: str | None
    runner_up: str | None  # the next approach tied on quality with the base choice (None: quality alone decides)
    advantage: float | None  # runner-up's monthly cost minus the base choice's (negative: the ranking flips)
    choice_cost: float  # the base choice's monthly cost at this price
    ranking: tuple[str, ...]  # every approach by monthly cost


def sensitivity(measured: Sequence[Measured], prices: Prices, s: Scenario, spread: float = 0.5) -> list[Swing]:
    """Each priced input at (1 - spread) and (1 + spread), the others fixed: the recommendation, and the cost
    advantage of the base recommendation over the runner-up (the next approach tied with it on quality; with
    none, quality alone decides and prices only move the choice's cost)."""
    base = recommend(measured, prices, s)
    if base.choice is None:
        return []
    runner = base.tied[1] if len(base.tied) > 1 else None
    swings = []
    for name in prices.priced():
        for factor in (1 - spread, 1 + spread):
            rec = recommend(measured, prices.scaled(name, factor), s)
            adv = rec.monthly[runner] - rec.monthly[base.choice] if runner else None
            swings.append(Swing(name, factor, rec.choice, runner, adv, rec.monthly[base.choice],
                                tuple(sorted(rec.monthly, key=lambda a: (rec.monthly[a], a)))))
    return swings


def sensitivity_frame(swings: Sequence[Swing], base_choice: str | None):
    import pandas as pd

    rows = [{"price": w.price, "factor": w.factor, "recommended": w.choice, "changes": w.choice != base_choice,
             f"{base_choice} per month": round(w.choice_cost, 2), "runner-up": w.runner_up,
             "advantage over runner-up": None if w.advantage is None else round(w.advantage, 2),
             "cost ranking (all approaches)": " < ".join(w.ranking)} for w in swings]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- takeaways

def retraining_takeaway(measured: Sequence[Measured], prices: Prices, s: Scenario) -> str:
    """RAG vs fine-tuning by retraining frequency, from our numbers (the KDD 2024 tutorial's question)."""
    weights = [m for m in measured if m.knowledge == "weights"]
    docs = [m for m in measured if m.knowledge == "documents"]
    if not weights or not docs:
        missing = "fine-tuned approach (lab 05 or 06)" if not weights else "RAG approach (labs 02-04, 07)"
        return (f"Cannot be compared on this run: the ledger has no {missing}. The tutorial's conclusion (RAG for "
                f"knowledge that changes, fine-tuning when it is stable and volume is high) stays untested here.")
    ft = max(weights, key=lambda m: m.accuracy)
    rag = max(docs, key=lambda m: m.accuracy)
    cf, cr = C.costs(ft, prices), C.costs(rag, prices)
    refresh = C.refresh_per_month(rag, cr, retrains_per_month=0, docs_per_month=s.docs_per_month, n_docs=s.n_docs)
    f = C.retraining_frequency_break_even(cf, cr, volume=s.volume, docs_refresh=refresh)
    stale = {name: C.mean_stale_share(s.docs_per_month, s.n_docs, 1 / r) for name, r in C.CADENCES.items()}
    text = (f"{ft.approach} (accuracy {ft.accuracy:.2f}) vs {rag.approach} ({rag.accuracy:.2f}) at {s.volume:,.0f} "
            f"queries/month: ")
    if f is None:
        text += f"{ft.approach} costs more than {rag.approach} at any retraining frequency. "
    else:
        period = 1 / f
        when = f"{period:.3g} months" if period >= 1 else f"{period:.2g} months (about {30.4 * period:.2g} days)"
        text += f"retraining more often than every {when} makes {ft.approach} dearer than {rag.approach}. "
    text += ("Between retrainings a fine-tuned model's knowledge goes stale: on average "
             + ", ".join(f"{v:.0%} of documents changed ({k})" for k, v in stale.items())
             + "; RAG reads the current documents.")
    return text


def cascade_takeaway(measured: Sequence[Measured], prices: Prices) -> tuple[str, "C.Cascade | None"]:
    """Is a cheap-first cascade cheaper than the most accurate approach at equal quality? Needs per-question answers."""
    if len(measured) < 2:
        return "A cascade needs two measured approaches.", None
    cost = {m.approach: C.costs(m, prices) for m in measured}
    strong = max(measured, key=lambda m: (m.accuracy, -cost[m.approach].per_query))
    cheaper = [m for m in measured if cost[m.approach].per_query < cost[strong.approach].per_query and m.accuracy > 0]
    if not cheaper:
        return (f"No approach is both cheaper per query than {strong.approach} and ever right: a cascade cannot "
                f"save anything here."), None
    cheap = min(cheaper, key=lambda m: cost[m.approach].per_query)
    result = C.cascade(cheap, strong, cost[cheap.approach], cost[strong.approach])
    if result is None:
        return (f"Cannot be computed on this run: a cascade ({cheap.approach} first, {strong.approach} when needed) "
                f"has to be worked out question by question, and the per-question answers of "
                f"{cheap.approach} and {strong.approach} are not in the run (ledger.record_answers)."), None
    verdict = "cheaper at equal quality" if result.cheaper_at_equal_quality else "not cheaper at equal quality"
    return (f"On {result.n} common questions, {cheap.approach} first (accuracy {result.cheap_accuracy:.2f}) and "
            f"{strong.approach} ({result.strong_accuracy:.2f}) for the {result.escalated:.0%} it gets wrong: accuracy "
            f"{result.cascade_accuracy:.2f} at {prices.currency} {1000 * result.cost_per_query:.4f} per 1k queries vs "
            f"{1000 * result.strong_cost_per_query:.4f}: {verdict}, with a perfect router (an upper bound). A real "
            f"router (FrugalGPT trains a scorer) must escalate fewer than {result.max_escalation:.0%} of questions "
            f"to save money, and catch the cheap approach's errors to keep quality."), result

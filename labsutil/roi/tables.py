"""The lab's tables (summary, break-even, refresh cadence), its ledger rows, and the run report's summary."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .. import ledger
from . import costs as C
from .approaches import Measured, indexed
from .decide import Recommendation, Scenario, monthly
from .prices import Prices

SUMMARY_PREFIX = "roi/"  # lab 09's rows: roi/<approach>, plus scenario/<name> for the recommendations


def summary(measured: Sequence[Measured], prices: Prices, s: Scenario):
    """One row per approach: quality with its interval, speed, tokens, one-time and recurring cost (in the
    prices' currency; rounded for reading, the ledger rows keep every digit)."""
    rows = []
    for m in measured:
        c = C.costs(m, prices)
        rows.append({
            "approach": m.approach, "lab": m.lab, "accuracy": round(m.accuracy, 3),
            "95% CI": f"[{m.ci_low:.2f}, {m.ci_high:.2f}]", "n": m.n,
            "p50 s": _round(m.latency_p50_s, 2), "p95 s": _round(m.latency_p95_s, 2),
            "tokens in/q": round(m.tokens_in_per_q, 1), "tokens out/q": round(m.tokens_out_per_q, 1),
            "one-time": round(c.one_time, 4), "per 1k queries": round(c.per_1k, 4),
            "API per 1k (comparison)": round(c.api_per_1k, 4),
            "per correct answer": None if c.per_correct is None else round(c.per_correct, 6),
            f"per month ({s.name})": round(monthly(m, c, s), 2),
        })
    return indexed(rows)


def break_evens(measured: Sequence[Measured], prices: Prices, s: Scenario):
    """Every pair: where total cost (one-time + queries x per query) crosses, and where the monthly cost at the
    scenario's cadence (refresh + monthly queries x per query) crosses."""
    import pandas as pd

    cost = {m.approach: C.costs(m, prices) for m in measured}
    rows = []
    for a, b in C.pairs(list(measured)):
        ca, cb = cost[a.approach], cost[b.approach]
        names = (a.approach, b.approach)
        total = C.break_even(ca.one_time, ca.per_query, cb.one_time, cb.per_query, names)
        fixed = [C.refresh_per_month(m, c, retrains_per_month=s.retrains_per_month, docs_per_month=s.docs_per_month,
                                     n_docs=s.n_docs) for m, c in ((a, ca), (b, cb))]
        month = C.break_even(fixed[0], ca.per_query, fixed[1], cb.per_query, names)
        rows.append({"a": a.approach, "b": b.approach, "total queries": total.volume, "lifetime": total.describe(),
                     "queries/month": month.volume, f"monthly ({s.name})": month.describe("queries/month")})
    return pd.DataFrame(rows, columns=None if rows else ["a", "b"])


def retraining(measured: Sequence[Measured], prices: Prices, s: Scenario):
    """Monthly cost and stale knowledge of each approach when fine-tuned models are retrained monthly,
    quarterly or yearly (RAG re-indexes changed documents whatever the cadence)."""
    rows = []
    for m in measured:
        c = C.costs(m, prices)
        row = {"approach": m.approach, "knowledge": m.knowledge}
        for name, per_month in C.CADENCES.items():
            kw = dict(retrains_per_month=per_month, docs_per_month=s.docs_per_month, n_docs=s.n_docs)
            row[f"{name}: cost/month"] = C.monthly_cost(m, c, s.volume, **kw)
            stale = C.stale_share(m, **kw)
            row[f"{name}: stale"] = "never learned" if stale is None else f"{stale:.0%}"
        rows.append(row)
    return indexed(rows)


def record(cfg, measured: Sequence[Measured], prices: Prices, recs: Sequence[Recommendation], aligned: bool) -> list[dict]:
    """Lab 09's ledger rows: one per approach (roi/<approach>) and one per scenario (scenario/<name>)."""
    written = []
    s = recs[0].scenario if recs else None
    for m in measured:
        c = C.costs(m, prices)
        metrics = {"answer_accuracy": m.accuracy, "n": m.n, "ci_low": m.ci_low, "ci_high": m.ci_high,
                   "tokens_in_per_query": m.tokens_in_per_q, "tokens_out_per_query": m.tokens_out_per_q,
                   "compute_s_per_query": m.compute_s_per_q, "one_time_cost": c.one_time,
                   "cost_per_1k_queries": c.per_1k, "api_cost_per_1k_queries": c.api_per_1k,
                   "cost_per_correct": c.per_correct}
        if s is not None:
            metrics["monthly_cost"] = monthly(m, c, s)
        written.append(ledger.record(
            cfg, f"{SUMMARY_PREFIX}{m.approach}", metrics,
            cost={"latency_p50_s": m.latency_p50_s, "latency_p95_s": m.latency_p95_s, "train_seconds": m.train_seconds},
            params={"approach": m.approach, "title": m.title, "source_lab": m.lab, "variants": list(m.variants),
                    "question_set": m.question_set, "aligned": aligned, "device": m.device,
                    "knowledge": m.knowledge, "currency": prices.currency, "notes": list(m.notes)}))
    for r in recs:
        metrics = {"n_eligible": len(r.eligible), "n_tied": len(r.tied), "volume": r.scenario.volume}
        if r.choice:
            metrics["monthly_cost"] = r.monthly[r.choice]
        written.append(ledger.record(cfg, f"scenario/{r.scenario.name}", metrics,
                                     params={"recommended": r.choice, "why": r.reason,
                                             "conditions": r.scenario.describe(), "tied": r.tied}))
    return written


def _round(value, digits: int):
    return None if value is None else round(value, digits)


def report_summary(run_dir: str | Path):
    """The ROI summary for the run report: one row per approach from lab 09's ledger rows; None when lab 09
    has not run in this folder."""
    import pandas as pd

    rows = [r for r in ledger.read(run_dir, lab="09") if r["variant"].startswith(SUMMARY_PREFIX)]
    if not rows:
        return None
    out = []
    for r in rows:
        m, c, p = r["metrics"], r["cost"], r["params"]
        cur = p.get("currency", "")
        out.append({"approach": p.get("approach", r["variant"][len(SUMMARY_PREFIX):]), "lab": p.get("source_lab"),
                    "accuracy": _round(m.get("answer_accuracy"), 3),
                    "95% CI": f"[{m['ci_low']:.2f}, {m['ci_high']:.2f}]", "n": m.get("n"),
                    "p95 latency s": _round(c.get("latency_p95_s"), 2),
                    "tokens/query": round((m.get("tokens_in_per_query") or 0) + (m.get("tokens_out_per_query") or 0), 1),
                    f"one-time {cur}": _round(m.get("one_time_cost"), 4),
                    f"{cur} per 1k queries": _round(m.get("cost_per_1k_queries"), 4),
                    f"{cur} per month": _round(m.get("monthly_cost"), 2)})
    return pd.DataFrame(out).set_index("approach")

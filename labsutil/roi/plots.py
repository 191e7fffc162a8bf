"""The decision plots: monthly cost against volume (break-even points marked), accuracy against cost (the
Pareto frontier), and the tornado of price sensitivity."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from . import costs as C
from .approaches import Measured
from .decide import Recommendation, Scenario, Swing, monthly
from .prices import Prices


def _fixed(m: Measured, c: C.Costs, s: Scenario) -> float:
    return C.refresh_per_month(m, c, retrains_per_month=s.retrains_per_month, docs_per_month=s.docs_per_month,
                               n_docs=s.n_docs)


def cost_vs_volume(measured: Sequence[Measured], prices: Prices, s: Scenario, volumes=(1e2, 1e8)):
    """Monthly cost of each approach from `volumes[0]` to `volumes[1]` queries a month (log-log), with every
    pairwise break-even inside that range marked and the scenario's volume as a dotted line."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8))
    x = np.logspace(np.log10(volumes[0]), np.log10(volumes[1]), 200)
    cost = {m.approach: C.costs(m, prices) for m in measured}
    styles = ["-", "--", "-.", ":"]  # lines that coincide (equal costs) stay visible
    for i, m in enumerate(measured):
        c = cost[m.approach]
        y = _fixed(m, c, s) + x * c.per_query
        ax.plot(x, np.where(y > 0, y, np.nan), styles[i % len(styles)], label=m.approach, lw=1.6)
    legend = []
    for a, b in C.pairs(list(measured)):
        ca, cb = cost[a.approach], cost[b.approach]
        be = C.break_even(_fixed(a, ca, s), ca.per_query, _fixed(b, cb, s), cb.per_query, (a.approach, b.approach))
        if be.kind == "crosses" and volumes[0] <= be.volume <= volumes[1]:
            y = _fixed(a, ca, s) + be.volume * ca.per_query
            ax.plot(be.volume, y, "kx", ms=7)
            legend.append(f"{len(legend) + 1}: {a.approach} = {b.approach} at {be.volume:,.0f}/month")
            ax.annotate(str(len(legend)), (be.volume, y), fontsize=7, textcoords="offset points",
                        xytext=(3, -9 if len(legend) % 2 else 4))
    if legend:
        ax.text(0.99, 0.02, "break-even (x):\n" + "\n".join(legend), transform=ax.transAxes, fontsize=6.5,
                ha="right", va="bottom", bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "grey"})
    ax.axvline(s.volume, color="grey", ls=":", lw=1)
    ax.set_xscale("log"); ax.set_yscale("log")
    ax.set_xlabel(f"queries per month (dotted: {s.volume:,.0f})"); ax.set_ylabel(f"monthly cost ({prices.currency})")
    ax.set_title(f"Monthly cost vs volume ({s.name}: retraining every {1 / s.retrains_per_month:g} months)",
                 fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    return fig


def pareto(measured: Sequence[Measured], prices: Prices, s: Scenario):
    """Accuracy (with its 95% interval) against monthly cost at the scenario's volume; the frontier joined."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    points = {m.approach: (m.accuracy, monthly(m, C.costs(m, prices), s)) for m in measured}
    floor = min((c for _, c in points.values() if c > 0), default=1e-6) / 2
    for m in measured:
        acc, cost = points[m.approach]
        cost = max(cost, floor)  # a zero cost still shows on the log axis, at its left edge
        ax.errorbar(cost, acc, yerr=[[acc - m.ci_low], [m.ci_high - acc]], fmt="o", capsize=3)
        ax.annotate(m.approach, (cost, acc), fontsize=8, textcoords="offset points", xytext=(5, 3))
    front = C.pareto_front(points)
    ax.plot([max(points[a][1], floor) for a in front], [points[a][0] for a in front], "k*--", lw=1, ms=12,
            mfc="none", label="Pareto frontier")
    ax.set_xscale("log")
    ax.set_xlabel(f"monthly cost at {s.volume:,.0f} queries ({prices.currency})")
    ax.set_ylabel("answer accuracy (95% interval)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Accuracy vs cost ({s.name})", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def tornado(swings: Sequence[Swing], recommendation: Recommendation, currency: str):
    """One bar per price, from its value lowered to its value raised (the others fixed). With a runner-up tied on
    quality, the bars are the recommendation's monthly advantage over it: a bar crossing the red line flips the
    ranking. Without one, quality alone decides and the bars are the recommendation's monthly cost."""
    import matplotlib.pyplot as plt

    runner = next((w.runner_up for w in swings), None)
    month, choice = recommendation.monthly, recommendation.choice
    base = month[runner] - month[choice] if runner else month[choice]
    value = (lambda w: w.advantage) if runner else (lambda w: w.choice_cost)
    names = list(dict.fromkeys(w.price for w in swings))
    lows = {w.price: value(w) for w in swings if w.factor < 1}
    highs = {w.price: value(w) for w in swings if w.factor > 1}
    names.sort(key=lambda p: abs(highs.get(p, base) - lows.get(p, base)))
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(names) + 1.5))
    factors = sorted({w.factor for w in swings})
    for i, p in enumerate(names):
        for v, colour, factor in ((lows.get(p), "tab:blue", factors[0]), (highs.get(p), "tab:orange", factors[-1])):
            if v is not None:
                ax.barh(i, v - base, left=base, color=colour, label=f"price x {factor:g}" if i == 0 else None)
    ax.axvline(base, color="black", lw=1)
    ax.set_yticks(range(len(names)), names)
    if runner:
        ax.axvline(0, color="red", lw=1, ls="--")
        ax.set_xlabel(f"{runner}'s monthly cost minus {choice}'s ({currency}); left of the red line the ranking flips")
    else:
        ax.set_xlabel(f"monthly cost of {choice} ({currency}); no approach ties with it on quality, so prices "
                      f"cannot change the choice")
    ax.set_title("Sensitivity of the recommendation to each price", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig

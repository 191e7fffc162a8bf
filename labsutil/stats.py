"""Trustworthy numbers: every measured proportion or mean with its n and 95% interval.

A lab that reports "RAG 53%, closed book 41%" on 48 questions has not shown that RAG is better:
the two intervals overlap widely. This module gives each number its interval and each comparison
of two variants on the same questions a paired interval and test, and turns a published claim
into a verdict that says "cannot be decided at n = 16" when that is the honest answer.

- a proportion (accuracy): Wilson score interval (`wilson`, `proportion`);
- a mean (token F1, latency): seeded BCa bootstrap (`bootstrap_mean`);
- b against a on the same questions, right/wrong: exact McNemar test and Newcombe's paired
  score interval (`paired_binary`); continuous scores: paired bootstrap interval and a sign-flip
  permutation test (`paired_bootstrap`);
- `verdict` compares the interval with what a paper claims; `n_for_halfwidth` says how many
  questions an interval of a given width needs; `interval_table` / `plot_intervals` show ledger rows.

Ledger convention: a row's headline proportion (e.g. `answer_accuracy`) comes with `n`, `ci_low`,
`ci_high`; any other interval-carrying metric X with `X_ci_low`, `X_ci_high` and `X_n`
(see `Estimate.metrics`). scipy, statsmodels, numpy, pandas and matplotlib are imported inside the
functions that need them, so importing this module stays cheap.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Iterable, Sequence

ALPHA = 0.05  # a verdict's direction also needs its paired test's p-value below this (95% intervals)
PERMUTATIONS = 9999  # sign flips for the paired test; exact enumeration when 2**n is fewer
_HEADLINE_KEYS = ("n", "ci_low", "ci_high")
_EXPECTED = ("b>a", "b<a", "b=a")


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _round(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 4)


def _round_p(value: float) -> float | None:
    """p-values keep 4 significant digits: 4 decimals would turn 2e-7 into 0."""
    return None if not math.isfinite(value) else float(f"{value:.4g}")


def _as_binary(values: Iterable, what: str = "values") -> list[int]:
    out = []
    for value in values:
        if value in (0, 1):  # True/False, 0/1, 0.0/1.0 and numpy scalars of them
            out.append(int(value))
        else:
            raise ValueError(f"{what} must be bool or 0/1, got {value!r}")
    return out


def _as_floats(values: Iterable, what: str = "values") -> list[float]:
    out = [float(v) for v in values]
    if any(not math.isfinite(v) for v in out):
        raise ValueError(f"{what} contain NaN or infinity")
    return out


def _points(value: float) -> str:
    """A proportion as signed percentage points: 0.123 -> "+12" (and never "-0")."""
    text = f"{100 * value:+.0f}"
    return "+0" if text == "-0" else text


def _decimals(low: float, high: float) -> int:
    """Enough decimals to show the interval's width to about two significant digits (2 by default)."""
    width = high - low
    if not math.isfinite(width) or width <= 0:
        return 2
    return min(6, max(0, 1 - math.floor(math.log10(width))))


def _numbers(value: float, low: float, high: float, signed: bool = False) -> str:
    """ "0.41 [0.33, 0.49]" with one number of decimals for all three."""
    places = _decimals(low, high)
    sign = "+" if signed else ""
    return f"{value:{sign}.{places}f} [{low:{sign}.{places}f}, {high:{sign}.{places}f}]"


# ---------------------------------------------------------------- one variant

@dataclass(frozen=True)
class Estimate:
    """A proportion or a mean with its n and its interval (`method`: "wilson" or "bootstrap")."""

    value: float
    n: int
    ci_low: float
    ci_high: float
    method: str

    def metrics(self, name: str, headline: bool = True) -> dict:
        """Ledger metrics: the headline gets bare `n`/`ci_low`/`ci_high`, any other X gets `X_n`, ..."""
        empty = self.n == 0
        numbers = [None if empty else _round(x) for x in (self.value, self.ci_low, self.ci_high)]
        keys = _HEADLINE_KEYS if headline else (f"{name}_n", f"{name}_ci_low", f"{name}_ci_high")
        return {name: numbers[0], keys[0]: self.n, keys[1]: numbers[1], keys[2]: numbers[2]}

    def __str__(self) -> str:
        if self.n == 0 or not math.isfinite(self.value):
            return f"n/a (n={self.n})"
        if self.method == "wilson":
            return (f"{self.value:.0%} [{self.ci_low:.0%}, {self.ci_high:.0%}] (n={self.n})")
        return f"{_numbers(self.value, self.ci_low, self.ci_high)} (n={self.n})"


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for successes/n (as statsmodels' proportion_confint(method="wilson")).

    Unlike the textbook p +- z*sqrt(p(1-p)/n) it never leaves [0, 1] and is not zero-width at 0/n
    or n/n. For n == 0 both bounds are NaN.
    """
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    z = _z(confidence)
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # at 0/n and n/n the bound is exactly 0 or 1; the formula leaves float noise there
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def proportion(values: Iterable, confidence: float = 0.95) -> Estimate:
    """The share of true values (bool or 0/1) with its Wilson interval."""
    flags = _as_binary(values)
    n, hits = len(flags), sum(flags)
    low, high = wilson(hits, n, confidence)
    return Estimate(hits / n if n else float("nan"), n, low, high, "wilson")


def _bootstrap_interval(data: Sequence[float], confidence: float, n_resamples: int,
                        seed: int) -> tuple[float, float]:
    """BCa bootstrap interval of the mean (scipy.stats.bootstrap), seeded.

    Constant data (and n < 2) have a zero-width interval; when BCa cannot be computed (a
    degenerate bootstrap distribution) the percentile interval is used instead.
    """
    import numpy as np
    from scipy import stats as st

    x = np.asarray(data, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0:
        return float(x.mean()), float(x.mean())
    for method in ("BCa", "percentile"):
        result = st.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                              method=method, vectorized=True, rng=np.random.default_rng(seed))
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        if math.isfinite(low) and math.isfinite(high):
            return low, high
    return float("nan"), float("nan")


def bootstrap_mean(values: Iterable, *, confidence: float = 0.95, n_resamples: int = 2000,
                   seed: int = 0) -> Estimate:
    """The mean with a seeded BCa bootstrap interval (same seed, same data -> same interval).

    n == 0: NaN everywhere; n == 1 or constant data: the interval is the single value.
    """
    _z(confidence)
    data = _as_floats(values)
    if not data:
        return Estimate(float("nan"), 0, float("nan"), float("nan"), "bootstrap")
    low, high = _bootstrap_interval(data, confidence, n_resamples, seed)
    return Estimate(math.fsum(data) / len(data), len(data), low, high, "bootstrap")


# ---------------------------------------------------------------- b against a

@dataclass(frozen=True)
class Comparison:
    """Variant b against variant a on the same questions: diff = mean(b) - mean(a)."""

    a: str
    b: str
    n: int
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    b_only: int | None = None  # binary outcomes: questions only b got right
    a_only: int | None = None  # ... and only a got right

    @property
    def binary(self) -> bool:
        return self.b_only is not None

    def metrics(self, prefix: str = "vs") -> dict:
        return {f"{prefix}_diff": _round(self.diff), f"{prefix}_diff_ci_low": _round(self.ci_low),
                f"{prefix}_diff_ci_high": _round(self.ci_high), f"{prefix}_p_value": _round_p(self.p_value),
                f"{prefix}_n": self.n}

    def difference_text(self) -> str:
        """E.g. "b - a = +12 points [+3, +21]" (points for right/wrong outcomes)."""
        head = f"{self.b} - {self.a} = "
        if not math.isfinite(self.diff):
            return head + "n/a"
        if self.binary:
            d, lo, hi = (_points(x) for x in (self.diff, self.ci_low, self.ci_high))
            return head + f"{d} points [{lo}, {hi}]"
        return head + _numbers(self.diff, self.ci_low, self.ci_high, signed=True)

    def __str__(self) -> str:
        p = self.p_value
        shown = ("= n/a" if not math.isfinite(p) else "< 0.001" if p < 0.001
                 else f"= {p:.2f}" if p >= 0.1 else f"= {p:.2g}")
        return f"{self.difference_text()}, {self.test} p {shown}, n = {self.n}"


def _paired_lists(a, b, cast) -> tuple[list, list]:
    a, b = cast(a, "a"), cast(b, "b")
    if len(a) != len(b):
        raise ValueError(f"paired outcomes need the same questions: len(a) = {len(a)}, len(b) = {len(b)}")
    return a, b


def newcombe_paired_interval(both: int, b_only: int, a_only: int, neither: int,
                             confidence: float = 0.95) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p_b - p_a on paired data (Newcombe 1998, method 10).

    Square-and-add of the two Wilson intervals, corrected for the correlation of the pairs by the
    phi coefficient (numerator max(ad - bc - n/2, 0) when ad > bc, as in Newcombe's paper and in
    Fagerland, Lydersen & Laake 2017, section 8.5). Good coverage even with few discordant pairs,
    where a bootstrap would collapse to a zero-width interval.
    """
    n = both + b_only + a_only + neither
    if n == 0:
        return float("nan"), float("nan")
    p_b, p_a = (both + b_only) / n, (both + a_only) / n
    l_b, u_b = wilson(both + b_only, n, confidence)
    l_a, u_a = wilson(both + a_only, n, confidence)
    margins = (both + b_only) * (a_only + neither) * (both + a_only) * (b_only + neither)
    cross = both * neither - b_only * a_only
    if margins == 0:
        phi = 0.0
    elif cross > n / 2:
        phi = (cross - n / 2) / math.sqrt(margins)
    elif cross >= 0:
        phi = 0.0
    else:
        phi = cross / math.sqrt(margins)
    diff = p_b - p_a
    low = diff - math.sqrt(max(0.0, (p_b - l_b) ** 2 - 2 * phi * (p_b - l_b) * (u_a - p_a) + (u_a - p_a) ** 2))
    high = diff + math.sqrt(max(0.0, (p_a - l_a) ** 2 - 2 * phi * (p_a - l_a) * (u_b - p_b) + (u_b - p_b) ** 2))
    return max(-1.0, low), min(1.0, high)


def paired_binary(a, b, *, names: tuple[str, str] = ("a", "b"), confidence: float = 0.95) -> Comparison:
    """b against a on the same questions, each answer right or wrong.

    diff = accuracy(b) - accuracy(a). p-value: exact McNemar test (statsmodels, exact=True): under
    "no difference" the questions only one variant got right are equally likely to favour either,
    a binomial(b_only + a_only, 1/2). Interval: Newcombe's hybrid score interval for paired
    proportions (`newcombe_paired_interval`). Only the discordant questions carry evidence.
    """
    a, b = _paired_lists(a, b, _as_binary)
    n = len(a)
    both = sum(1 for x, y in zip(a, b) if x and y)
    b_only = sum(1 for x, y in zip(a, b) if y and not x)
    a_only = sum(1 for x, y in zip(a, b) if x and not y)
    neither = n - both - b_only - a_only
    if n == 0:
        return Comparison(names[0], names[1], 0, float("nan"), float("nan"), float("nan"), float("nan"),
                          "exact McNemar", 0, 0)
    from statsmodels.stats.contingency_tables import mcnemar

    p_value = float(mcnemar([[both, a_only], [b_only, neither]], exact=True).pvalue)
    low, high = newcombe_paired_interval(both, b_only, a_only, neither, confidence)
    return Comparison(names[0], names[1], n, (b_only - a_only) / n, low, high, p_value, "exact McNemar",
                      b_only, a_only)


def sign_flip_p_value(differences: Sequence[float], seed: int = 0, n_resamples: int = PERMUTATIONS) -> float:
    """Two-sided paired permutation test of mean difference 0 (scipy.stats.permutation_test).

    Under "no difference" each question's b - a is as likely to have either sign; the test flips
    signs (all 2**n ways when that is at most n_resamples, else a seeded sample). On right/wrong
    outcomes it is exactly McNemar's exact test.
    """
    import numpy as np
    from scipy import stats as st

    d = np.asarray(differences, dtype=float)
    if len(d) == 0:
        return float("nan")
    if not d.any() or len(d) == 1:  # every sign flip gives a statistic as extreme
        return 1.0
    result = st.permutation_test((d,), np.mean, permutation_type="samples", vectorized=True,
                                 n_resamples=n_resamples, rng=np.random.default_rng(seed))
    return float(min(1.0, result.pvalue))


def paired_bootstrap(a, b, *, names: tuple[str, str] = ("a", "b"), confidence: float = 0.95,
                     n_resamples: int = 2000, seed: int = 0) -> Comparison:
    """b against a on the same questions with continuous scores (token F1, latency).

    diff = mean(b) - mean(a). Interval: seeded BCa bootstrap resampling questions, each with its
    pair of scores (the same as resampling the per-question differences b - a). p-value:
    two-sided sign-flip permutation test of the differences (`sign_flip_p_value`), the continuous
    counterpart of exact McNemar. Both are deterministic for a given seed.
    """
    a, b = _paired_lists(a, b, _as_floats)
    differences = [y - x for x, y in zip(a, b)]
    n = len(differences)
    if n == 0:
        return Comparison(names[0], names[1], 0, float("nan"), float("nan"), float("nan"), float("nan"),
                          "paired permutation")
    low, high = _bootstrap_interval(differences, confidence, n_resamples, seed)
    return Comparison(names[0], names[1], n, math.fsum(differences) / n, low, high,
                      sign_flip_p_value(differences, seed), "paired permutation")


# ---------------------------------------------------------------- claims

@dataclass(frozen=True)
class Verdict:
    label: str  # "agrees" | "disagrees" | "cannot be decided"
    text: str

    def __str__(self) -> str:
        return self.text


def verdict(comparison: Comparison, expected: str, *, claim: str = "", margin: float = 0.0) -> Verdict:
    """Does our measured b - a agree with a claim? Decided by the interval, never by the point.

    expected "b>a" / "b<a": the interval wholly on the expected side agrees, wholly on the other
    side disagrees, otherwise it cannot be decided at this n. A direction also needs the comparison's own
    test to reject "no difference" at the same level (p < ALPHA): Newcombe's score interval can
    exclude zero where the exact McNemar test does not (3 of 6 answers flipped, none back: interval up to
    -0.0001, p = 0.25), and a verdict must not rest on the looser of the two. "b=a" (an equivalence claim such as
    "about as good"): agrees when the interval lies within [-margin, +margin], disagrees when it
    lies entirely outside, otherwise cannot be decided. margin is in the units of diff
    (0.05 = 5 points for right/wrong outcomes).
    """
    if expected not in _EXPECTED:
        raise ValueError(f"expected must be one of {_EXPECTED}, got {expected!r}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin!r}")
    low, high = comparison.ci_low, comparison.ci_high
    label, why = "cannot be decided", ""
    if comparison.n > 0 and math.isfinite(low) and math.isfinite(high):
        if expected == "b=a":
            if -margin <= low and high <= margin:
                label = "agrees"
            elif low > margin or high < -margin:
                label = "disagrees"
        elif not comparison.p_value < ALPHA:  # the test does not reject "no difference": no direction
            if low > 0 or high < 0:  # say why, where the interval alone would suggest one
                why = f"; the interval excludes 0 but the {comparison.test} test does not (p = {comparison.p_value:.2g})"
        else:
            sign = 1 if expected == "b>a" else -1
            if min(sign * low, sign * high) > 0:
                label = "agrees"
            elif max(sign * low, sign * high) < 0:
                label = "disagrees"
    scale = 100 if comparison.binary else 1
    within = (f" (equivalence margin +-{margin * scale:g}{' points' if comparison.binary else ''})"
              if expected == "b=a" else "")
    body = f"{label} at n = {comparison.n}: {comparison.difference_text()}{within}{why}"
    text = f"{claim}: our run {body}." if claim else f"{body[0].upper()}{body[1:]}."
    return Verdict(label, text)


def n_for_halfwidth(halfwidth: float = 0.10, p: float = 0.5, confidence: float = 0.95) -> int:
    """Questions needed for a 95% interval of +-halfwidth around a proportion near p.

    Normal approximation n = z^2 p (1 - p) / halfwidth^2, rounded up (p = 0.5 is the worst case):
    about 97 questions for +-10 points, 385 for +-5.
    """
    if not 0 < halfwidth < 1 or not 0 <= p <= 1:
        raise ValueError("need 0 < halfwidth < 1 and 0 <= p <= 1")
    z = _z(confidence)
    # round() first so that float noise cannot push an exact integer up by one
    return max(1, math.ceil(round(z * z * p * (1 - p) / halfwidth ** 2, 9)))


EXPLORATORY_BELOW = 40  # questions per type: fewer leaves a 95% interval wider than about +-15 points


def halfwidth_at(n: int, p: float = 0.5, confidence: float = 0.95) -> float:
    """Half-width of a proportion's 95% interval at n (normal approximation; p = 0.5 is the widest):
    the inverse of `n_for_halfwidth`, e.g. +-10 points at n = 97, +-15.5 at n = 40."""
    if n < 1 or not 0 <= p <= 1:
        raise ValueError("need n >= 1 and 0 <= p <= 1")
    return _z(confidence) * math.sqrt(p * (1 - p) / n)


def exploratory_note(counts: dict[str, int], min_n: int = EXPLORATORY_BELOW) -> str | None:
    """A note naming the groups (e.g. question types) with fewer than `min_n` questions, whose own numbers are
    exploratory at that n; None when every group has enough."""
    small = {name: n for name, n in counts.items() if n < min_n}
    if not small:
        return None
    parts = ", ".join(f"{name} (n = {n}: a 95% interval up to +-{100 * halfwidth_at(n):.0f} points)"
                      for name, n in small.items() if n > 0)
    return (f"note: fewer than {min_n} questions for {parts}; numbers for "
            f"{'this type are' if len(small) == 1 else 'these types are'} exploratory: they cannot decide "
            f"differences smaller than that")


# ---------------------------------------------------------------- tables and plots

def headline_name(metrics: dict) -> str | None:
    """The metric the bare n/ci_low/ci_high belong to: `Estimate.metrics` writes them right after it, which
    survives merging into a row that starts with other metrics; without them, the first other key."""
    keys = list(metrics)
    if "ci_low" in keys:
        j = keys.index("ci_low") - 1
        j -= keys[j] == "n" if j >= 0 else 0
        if j >= 0 and keys[j] not in _HEADLINE_KEYS:
            return keys[j]
    return next((k for k in metrics if k not in _HEADLINE_KEYS), None)


def _row_interval(metrics: dict, metric: str) -> tuple[float, float, float]:
    """(ci_low, ci_high, n) of a metric under the ledger convention; NaN where not recorded."""
    nan = float("nan")
    if f"{metric}_ci_low" in metrics or f"{metric}_ci_high" in metrics:
        low, high = metrics.get(f"{metric}_ci_low"), metrics.get(f"{metric}_ci_high")
    elif headline_name(metrics) == metric:
        low, high = metrics.get("ci_low"), metrics.get("ci_high")
    else:
        low = high = None
    n = metrics.get(f"{metric}_n", metrics.get("n"))
    return (nan if low is None else low), (nan if high is None else high), (nan if n is None else n)


def _shown(value, low, high, n, percent: bool) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    count = "" if not math.isfinite(n) else f" (n={int(n)})"
    if not (math.isfinite(low) and math.isfinite(high)):
        return (f"{value:.0%}" if percent else f"{value:.2f}") + count
    if percent:
        return f"{value:.0%} [{low:.0%}, {high:.0%}]{count}"
    return f"{_numbers(value, low, high)}{count}"


def interval_table(rows: list[dict], metric: str = "answer_accuracy", *, percent: bool | None = None):
    """Ledger rows -> DataFrame indexed by variant: value, ci_low, ci_high, n and a "shown" string.

    The bare `n`/`ci_low`/`ci_high` of a row belong to its headline metric, the first other key of
    its metrics (`Estimate.metrics` writes it first); any other metric X uses `X_ci_low`,
    `X_ci_high` and `X_n` (n falls back to the row's `n`). Rows without the metric are left out.
    percent: show as percentages (default: when every value and bound lies in [0, 1]).
    """
    import pandas as pd

    records = []
    for row in rows:
        metrics = row.get("metrics", row)
        if metrics.get(metric) is None:
            continue
        low, high, n = _row_interval(metrics, metric)
        records.append({"variant": row.get("variant", f"row {len(records)}"), "value": float(metrics[metric]),
                        "ci_low": float(low), "ci_high": float(high), "n": n})
    table = pd.DataFrame(records, columns=["variant", "value", "ci_low", "ci_high", "n"]).set_index("variant")
    table["n"] = table["n"].astype("Int64") if table["n"].notna().all() else table["n"]
    if percent is None:
        numbers = table[["value", "ci_low", "ci_high"]].stack().dropna()
        percent = bool(len(numbers)) and bool(((numbers >= 0) & (numbers <= 1)).all())
    table["shown"] = [_shown(r.value, r.ci_low, r.ci_high, float("nan") if pd.isna(r.n) else r.n, percent)
                      for r in table.itertuples()]
    table.attrs["metric"], table.attrs["percent"] = metric, percent
    return table


def plot_intervals(table_or_rows, metric: str = "answer_accuracy", ax=None, title: str | None = None,
                   horizontal: bool = True):
    """Error-bar chart of each variant's value with its 95% interval, n in the tick labels."""
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    table = table_or_rows if hasattr(table_or_rows, "columns") else interval_table(table_or_rows, metric)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 0.45 * len(table) + 1.4) if horizontal else (0.8 * len(table) + 2, 4))
    values = table["value"].to_numpy(float)
    errors = np.vstack([values - table["ci_low"].to_numpy(float), table["ci_high"].to_numpy(float) - values])
    errors = np.nan_to_num(errors, nan=0.0)  # a value without an interval is drawn as a bare point
    labels = [f"{variant} (n={'?' if pd.isna(n) else int(n)})" for variant, n in zip(table.index, table["n"])]
    positions = np.arange(len(table))
    if horizontal:
        ax.errorbar(values, positions, xerr=errors, fmt="o", capsize=4)
        ax.set_yticks(positions, labels)
        ax.invert_yaxis()
        ax.set_xlabel(f"{metric} (95% interval)")
    else:
        ax.errorbar(positions, values, yerr=errors, fmt="o", capsize=4)
        ax.set_xticks(positions, labels, rotation=30, ha="right")
        ax.set_ylabel(f"{metric} (95% interval)")
    ax.grid(axis="x" if horizontal else "y", alpha=0.3)
    ax.set_title(title if title is not None else f"{metric} with 95% intervals")
    return ax


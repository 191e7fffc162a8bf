"""labsutil.stats against scipy, statsmodels, published values and hand computations. No model: seconds."""
from __future__ import annotations

import itertools
import math
import subprocess
import sys
from math import comb
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as st
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from labsutil import stats

REPO = Path(__file__).resolve().parent.parent

TABLES = [  # (both right, b only, a only, neither)
    (59, 6, 16, 80),
    (10, 3, 3, 4),
    (20, 12, 2, 14),
    (0, 0, 0, 16),
    (5, 0, 4, 1),
    (40, 1, 9, 50),
    (3, 7, 0, 0),
]


def paired_from_table(both, b_only, a_only, neither):
    """Per-question correctness lists (a, b) with the given 2x2 counts."""
    pairs = [(1, 1)] * both + [(0, 1)] * b_only + [(1, 0)] * a_only + [(0, 0)] * neither
    return [p[0] for p in pairs], [p[1] for p in pairs]


# ---------------------------------------------------------------- Wilson, proportion

@pytest.mark.parametrize("successes, n, confidence", [
    (0, 10, 0.95), (10, 10, 0.95), (7, 20, 0.95), (48, 97, 0.95), (1, 3, 0.9), (250, 400, 0.99), (1, 1, 0.95),
])
def test_wilson_matches_statsmodels(successes, n, confidence):
    low, high = stats.wilson(successes, n, confidence)
    ref_low, ref_high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    assert low == pytest.approx(ref_low, abs=1e-12)
    assert high == pytest.approx(ref_high, abs=1e-12)


def test_wilson_edges_and_errors():
    assert all(math.isnan(x) for x in stats.wilson(0, 0))
    assert stats.wilson(0, 5)[0] == 0.0 and stats.wilson(5, 5)[1] == 1.0
    with pytest.raises(ValueError):
        stats.wilson(6, 5)
    with pytest.raises(ValueError):
        stats.wilson(1, 5, confidence=1.0)


def test_proportion_estimate_metrics_and_text():
    est = stats.proportion([True] * 25 + [False] * 23)
    low, high = proportion_confint(25, 48, method="wilson")
    assert (est.value, est.n, est.method) == (25 / 48, 48, "wilson")
    assert (est.ci_low, est.ci_high) == pytest.approx((low, high))
    assert str(est) == "52% [38%, 66%] (n=48)"
    assert est.metrics("answer_accuracy") == {
        "answer_accuracy": round(25 / 48, 4), "n": 48, "ci_low": round(low, 4), "ci_high": round(high, 4)}
    assert est.metrics("faithfulness", headline=False) == {
        "faithfulness": round(25 / 48, 4), "faithfulness_n": 48,
        "faithfulness_ci_low": round(low, 4), "faithfulness_ci_high": round(high, 4)}
    assert stats.proportion(np.array([1, 0, 1])).value == pytest.approx(2 / 3)  # numpy input


def test_proportion_n0_n1_and_bad_values():
    empty = stats.proportion([])
    assert empty.n == 0 and str(empty) == "n/a (n=0)"
    assert empty.metrics("acc") == {"acc": None, "n": 0, "ci_low": None, "ci_high": None}
    one = stats.proportion([1])
    assert one.value == 1.0 and one.ci_high == 1.0 and 0 < one.ci_low < 1
    with pytest.raises(ValueError, match="0/1"):
        stats.proportion([1, 0.5])


# ---------------------------------------------------------------- bootstrap mean

DATASETS = [
    [0.0, 0.5, 1.0, 0.25, 0.75, 1.0, 0.0, 0.4],
    list(np.random.default_rng(1).exponential(1.3, size=40)),  # skewed, like latency
    list(np.random.default_rng(2).uniform(size=97)),
    [0.0, 1.0],
    [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.5, 0.0, 0.0],
]


@pytest.mark.parametrize("data", DATASETS)
@pytest.mark.parametrize("seed", [0, 7])
def test_bootstrap_mean_matches_scipy_called_directly(data, seed):
    est = stats.bootstrap_mean(data, n_resamples=1500, seed=seed, confidence=0.9)
    ref = st.bootstrap((np.asarray(data),), np.mean, n_resamples=1500, confidence_level=0.9, method="BCa",
                       rng=np.random.default_rng(seed)).confidence_interval
    assert est.value == pytest.approx(np.mean(data))
    assert (est.ci_low, est.ci_high) == pytest.approx((ref.low, ref.high), abs=1e-12)
    assert est.method == "bootstrap" and est.n == len(data)


def test_bootstrap_mean_agrees_with_t_interval_for_large_normal_sample():
    data = np.random.default_rng(3).normal(0.4, 0.2, size=600)
    est = stats.bootstrap_mean(data)
    t_low, t_high = st.t.interval(0.95, len(data) - 1, loc=data.mean(), scale=st.sem(data))
    width = t_high - t_low
    assert est.ci_low == pytest.approx(t_low, abs=0.05 * width)
    assert est.ci_high == pytest.approx(t_high, abs=0.05 * width)


def test_bootstrap_mean_is_deterministic_per_seed():
    data = DATASETS[1]
    assert stats.bootstrap_mean(data, seed=5) == stats.bootstrap_mean(data, seed=5)
    assert stats.bootstrap_mean(data, seed=5) != stats.bootstrap_mean(data, seed=6)


def test_bootstrap_mean_degenerate_cases():
    empty = stats.bootstrap_mean([])
    assert empty.n == 0 and math.isnan(empty.value) and empty.metrics("f1")["f1"] is None
    one = stats.bootstrap_mean([0.3])
    assert (one.value, one.ci_low, one.ci_high, one.n) == (0.3, 0.3, 0.3, 1)
    constant = stats.bootstrap_mean([0.5] * 10)
    assert (constant.ci_low, constant.ci_high) == (0.5, 0.5)
    assert str(stats.bootstrap_mean([0.41] * 3)) == "0.41 [0.41, 0.41] (n=3)"
    with pytest.raises(ValueError, match="NaN"):
        stats.bootstrap_mean([0.1, float("nan")])


def test_mean_text_uses_decimals_that_show_the_interval():
    assert str(stats.Estimate(0.41, 48, 0.33, 0.49, "bootstrap")) == "0.41 [0.33, 0.49] (n=48)"
    assert str(stats.Estimate(0.0123, 48, 0.0101, 0.0149, "bootstrap")) == "0.0123 [0.0101, 0.0149] (n=48)"
    assert str(stats.Estimate(1234.4, 48, 1200.2, 1270.9, "bootstrap")) == "1234 [1200, 1271] (n=48)"


# ---------------------------------------------------------------- paired binary

def hand_exact_mcnemar(b_only, a_only):
    """Two-sided exact binomial test of b_only vs a_only discordant pairs, p = 1/2, by hand."""
    m = b_only + a_only
    tail = sum(comb(m, k) for k in range(min(b_only, a_only) + 1)) / 2 ** m
    return min(1.0, 2 * tail)


@pytest.mark.parametrize("table", TABLES)
def test_paired_binary_counts_and_mcnemar(table):
    both, b_only, a_only, neither = table
    a, b = paired_from_table(*table)
    cmp = stats.paired_binary(a, b, names=("base", "rag"))
    assert (cmp.a, cmp.b, cmp.n, cmp.b_only, cmp.a_only) == ("base", "rag", sum(table), b_only, a_only)
    assert cmp.diff == pytest.approx((b_only - a_only) / sum(table))
    ref = mcnemar([[both, a_only], [b_only, neither]], exact=True).pvalue
    assert cmp.p_value == pytest.approx(ref, rel=1e-12)
    assert cmp.p_value == pytest.approx(hand_exact_mcnemar(b_only, a_only), rel=1e-12)
    assert cmp.test == "exact McNemar"
    assert -1 <= cmp.ci_low <= cmp.diff <= cmp.ci_high <= 1


def test_paired_interval_matches_published_value():
    """Cavo et al. 2012 table in Fagerland, Lydersen & Laake (2017), ch. 8: Newcombe square-and-add
    estimate -0.0621, 95% CI -0.1186 to -0.0046 (the first measurement plays b here)."""
    a, b = paired_from_table(59, 6, 16, 80)
    cmp = stats.paired_binary(a, b)
    assert round(cmp.diff, 4) == -0.0621
    assert (round(cmp.ci_low, 4), round(cmp.ci_high, 4)) == (-0.1186, -0.0046)


def newcombe_by_hand(both, b_only, a_only, neither):
    """Newcombe (1998) method 10 written from the paper's notation, with statsmodels' Wilson limits."""
    n = both + b_only + a_only + neither
    p1, p2 = (both + b_only) / n, (both + a_only) / n
    l1, u1 = proportion_confint(both + b_only, n, method="wilson")
    l2, u2 = proportion_confint(both + a_only, n, method="wilson")
    denominator = math.sqrt((both + b_only) * (a_only + neither) * (both + a_only) * (b_only + neither))
    ad_bc = both * neither - b_only * a_only
    numerator = max(ad_bc - n / 2, 0) if ad_bc > 0 else ad_bc
    phi = numerator / denominator if denominator else 0.0
    d = p1 - p2
    delta = math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    epsilon = math.sqrt((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    return d - delta, d + epsilon


@pytest.mark.parametrize("table", TABLES)
def test_paired_interval_matches_hand_newcombe(table):
    cmp = stats.paired_binary(*paired_from_table(*table))
    low, high = newcombe_by_hand(*table)
    assert (cmp.ci_low, cmp.ci_high) == pytest.approx((max(-1, low), min(1, high)), abs=1e-12)


def test_paired_interval_close_to_wald_for_large_n():
    both, b_only, a_only, neither = 1200, 300, 180, 1320
    n = both + b_only + a_only + neither
    d = (b_only - a_only) / n
    se = math.sqrt((b_only + a_only) - (b_only - a_only) ** 2 / n) / n  # Wald for paired proportions
    cmp = stats.paired_binary(*paired_from_table(both, b_only, a_only, neither))
    assert cmp.ci_low == pytest.approx(d - 1.959964 * se, abs=0.002)
    assert cmp.ci_high == pytest.approx(d + 1.959964 * se, abs=0.002)


def test_paired_interval_covers_the_truth_about_95_percent():
    """Simulated paired right/wrong outcomes at n = 40: the interval should hold the true difference."""
    rng = np.random.default_rng(11)
    cells = np.array([0.45, 0.15, 0.05, 0.35])  # both, b only, a only, neither
    truth = cells[1] - cells[2]
    hits = sum(lo <= truth <= hi for lo, hi in
               (stats.newcombe_paired_interval(*map(int, t)) for t in rng.multinomial(40, cells, size=2000)))
    assert 0.93 <= hits / 2000 <= 0.985


def test_paired_binary_degenerate_cases_and_errors():
    empty = stats.paired_binary([], [])
    assert empty.n == 0 and math.isnan(empty.diff) and empty.metrics()["vs_diff"] is None
    one = stats.paired_binary([0], [1])
    assert (one.n, one.diff, one.p_value, one.b_only) == (1, 1.0, 1.0, 1)
    assert one.ci_low < 0 < one.ci_high  # one question decides nothing
    same = stats.paired_binary([1, 0, 1, 1], [1, 0, 1, 1])
    assert same.diff == 0 and same.p_value == 1.0 and same.ci_low < 0 < same.ci_high
    with pytest.raises(ValueError, match="same questions"):
        stats.paired_binary([1, 0], [1])
    with pytest.raises(ValueError):
        stats.paired_binary([1, 2], [1, 0])


def test_comparison_text_and_metrics():
    cmp = stats.Comparison("a", "b", 100, 0.12, 0.031, 0.209, 0.0113, "exact McNemar", 20, 8)
    assert str(cmp) == "b - a = +12 points [+3, +21], exact McNemar p = 0.011, n = 100"
    assert cmp.metrics("rag_vs_base") == {"rag_vs_base_diff": 0.12, "rag_vs_base_diff_ci_low": 0.031,
                                          "rag_vs_base_diff_ci_high": 0.209, "rag_vs_base_p_value": 0.0113,
                                          "rag_vs_base_n": 100}
    tiny_p = stats.Comparison("a", "b", 500, 0.2, 0.1, 0.3, 2.4e-7, "exact McNemar", 110, 10)
    assert tiny_p.metrics()["vs_p_value"] == 2.4e-7 and "p < 0.001" in str(tiny_p)
    cont = stats.Comparison("base", "rag", 48, 0.0495, -0.005, 0.0995, 0.074, "paired permutation")
    assert str(cont) == "rag - base = +0.05 [-0.01, +0.10], paired permutation p = 0.074, n = 48"


# ---------------------------------------------------------------- paired bootstrap

@pytest.mark.parametrize("table", [(3, 5, 1, 3), (2, 4, 4, 2), (6, 6, 0, 1), (0, 1, 3, 4)])
def test_permutation_p_equals_exact_mcnemar_on_binary_outcomes(table):
    """n <= 13: all sign flips are enumerated, and the test is exactly McNemar's."""
    a, b = paired_from_table(*table)
    cmp = stats.paired_bootstrap(a, b)
    assert cmp.p_value == pytest.approx(hand_exact_mcnemar(table[1], table[2]), rel=1e-9)


def test_permutation_p_close_to_mcnemar_when_sampled():
    a, b = paired_from_table(30, 14, 5, 31)
    assert stats.paired_bootstrap(a, b).p_value == pytest.approx(hand_exact_mcnemar(14, 5), abs=0.01)


def test_permutation_p_matches_full_enumeration_by_hand():
    rng = np.random.default_rng(4)
    a = rng.uniform(size=11)
    b = a + rng.normal(0.15, 0.3, size=11)
    d = b - a
    observed = abs(d.mean())
    flips = [abs(np.mean(np.array(signs) * d)) >= observed - 1e-12
             for signs in itertools.product((1, -1), repeat=len(d))]
    assert stats.paired_bootstrap(a, b).p_value == pytest.approx(np.mean(flips), rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_paired_bootstrap_interval_matches_scipy_paired_bootstrap(seed):
    rng = np.random.default_rng(100 + seed)
    a = rng.uniform(size=60)
    b = np.clip(a + rng.normal(0.05, 0.25, size=60), 0, 1)
    cmp = stats.paired_bootstrap(a, b, seed=seed, n_resamples=4000)
    ref = st.bootstrap((a, b), lambda x, y, axis: y.mean(axis) - x.mean(axis), paired=True, vectorized=True,
                       n_resamples=4000, method="BCa", rng=np.random.default_rng(seed)).confidence_interval
    assert cmp.diff == pytest.approx(np.mean(b - a))
    assert (cmp.ci_low, cmp.ci_high) == pytest.approx((ref.low, ref.high), abs=0.01)


def test_paired_bootstrap_agrees_with_paired_t_for_large_normal_sample():
    rng = np.random.default_rng(8)
    a = rng.normal(1.0, 0.3, size=500)
    b = a + rng.normal(-0.05, 0.2, size=500)
    cmp = stats.paired_bootstrap(a, b)
    ref = st.ttest_rel(b, a)
    t_ci = ref.confidence_interval(0.95)
    assert cmp.ci_low == pytest.approx(t_ci.low, abs=0.005)
    assert cmp.ci_high == pytest.approx(t_ci.high, abs=0.005)
    assert cmp.p_value == pytest.approx(ref.pvalue, abs=0.002)


def test_paired_bootstrap_deterministic_and_degenerate():
    rng = np.random.default_rng(9)
    a, b = rng.uniform(size=30), rng.uniform(size=30)
    assert stats.paired_bootstrap(a, b, seed=3) == stats.paired_bootstrap(a, b, seed=3)
    assert stats.paired_bootstrap(a, b, seed=3) != stats.paired_bootstrap(a, b, seed=4)
    empty = stats.paired_bootstrap([], [])
    assert empty.n == 0 and math.isnan(empty.p_value)
    one = stats.paired_bootstrap([0.2], [0.7])
    assert (one.n, one.ci_low, one.ci_high, one.p_value) == (1, pytest.approx(0.5), pytest.approx(0.5), 1.0)
    same = stats.paired_bootstrap(a, a)
    assert (same.diff, same.ci_low, same.ci_high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert same.b_only is None and same.test == "paired permutation"


# ---------------------------------------------------------------- verdicts

def cmp_with(low, high, n=100, binary=True, p=None):
    diff = (low + high) / 2
    counts = (10, 5) if binary else (None, None)
    p = (0.01 if low > 0 or high < 0 else 0.5) if p is None else p  # a test that agrees with the interval
    return stats.Comparison("a", "b", n, diff, low, high, p, "exact McNemar", *counts)


@pytest.mark.parametrize("expected, low, high, label", [
    ("b>a", 0.03, 0.21, "agrees"),
    ("b>a", -0.21, -0.03, "disagrees"),
    ("b>a", -0.18, 0.30, "cannot be decided"),
    ("b>a", 0.0, 0.2, "cannot be decided"),  # touching zero is not "entirely above"
    ("b<a", -0.21, -0.03, "agrees"),
    ("b<a", 0.03, 0.21, "disagrees"),
    ("b<a", -0.18, 0.30, "cannot be decided"),
])
def test_directional_verdicts(expected, low, high, label):
    assert stats.verdict(cmp_with(low, high), expected).label == label


def test_a_direction_needs_the_test_too():
    """Newcombe's interval can exclude zero where exact McNemar does not: then nothing is decided."""
    withheld = stats.verdict(cmp_with(0.03, 0.21, p=0.12), "b>a")
    assert withheld.label == "cannot be decided"
    assert withheld.text.endswith("; the interval excludes 0 but the exact McNemar test does not (p = 0.12).")
    assert "excludes" not in stats.verdict(cmp_with(-0.18, 0.30), "b>a").text  # straddling zero needs no reason
    assert stats.verdict(cmp_with(-0.21, -0.03, p=0.05), "b>a").label == "cannot be decided"  # p must be < 0.05
    three_of_six = stats.paired_binary([1, 1, 1, 0, 0, 0], [0] * 6)
    assert three_of_six.ci_high < 0 and three_of_six.p_value == 0.25
    assert stats.verdict(three_of_six, "b<a").label == "cannot be decided"


@pytest.mark.parametrize("low, high, margin, label", [
    (-0.03, 0.04, 0.05, "agrees"),
    (0.07, 0.20, 0.05, "disagrees"),
    (-0.25, -0.08, 0.05, "disagrees"),
    (-0.02, 0.09, 0.05, "cannot be decided"),
    (-0.18, 0.30, 0.05, "cannot be decided"),
    (-0.03, 0.04, 0.0, "cannot be decided"),
])
def test_equivalence_verdicts(low, high, margin, label):
    assert stats.verdict(cmp_with(low, high), "b=a", margin=margin).label == label


def test_verdict_text_carries_claim_difference_interval_and_n():
    cmp = stats.Comparison("a", "b", 16, 0.0625, -0.18, 0.30, 0.69, "exact McNemar", 3, 2)
    v = stats.verdict(cmp, "b>a")
    assert v.text == "Cannot be decided at n = 16: b - a = +6 points [-18, +30]."
    claimed = stats.verdict(cmp, "b>a", claim="Ovadia et al. 2023: RAG beats fine-tuning")
    assert claimed.text.startswith("Ovadia et al. 2023: RAG beats fine-tuning: our run cannot be decided at n = 16")
    eq = stats.verdict(cmp_with(-0.03, 0.04), "b=a", margin=0.05)
    assert "margin +-5 points" in eq.text and eq.text.startswith("Agrees at n = 100")
    continuous = stats.verdict(cmp_with(0.01, 0.09, binary=False), "b>a", claim="F1 rises")
    assert continuous.text == "F1 rises: our run agrees at n = 100: b - a = +0.050 [+0.010, +0.090]."


def test_verdict_from_measured_comparison_and_errors():
    a, b = paired_from_table(20, 25, 3, 52)
    cmp = stats.paired_binary(a, b)
    assert stats.verdict(cmp, "b>a").label == "agrees"
    assert stats.verdict(cmp, "b<a").label == "disagrees"
    assert stats.verdict(stats.paired_binary([], []), "b>a").label == "cannot be decided"
    with pytest.raises(ValueError, match="expected"):
        stats.verdict(cmp, "b>>a")


# ---------------------------------------------------------------- sample size

def test_n_for_halfwidth():
    assert stats.n_for_halfwidth() == 97
    assert stats.n_for_halfwidth(0.05) == 385
    assert stats.n_for_halfwidth(0.10, p=0.9) == 35
    low, high = stats.wilson(48, 97)
    assert (high - low) / 2 < 0.10  # the promised width holds for the Wilson interval too
    low, high = stats.wilson(40, 80)
    assert (high - low) / 2 > 0.10  # and fewer questions would not do
    with pytest.raises(ValueError):
        stats.n_for_halfwidth(0)


@pytest.mark.parametrize("successes, n", [(50, 100), (20, 40), (8, 16), (60, 97), (200, 385)])
def test_halfwidth_at_matches_statsmodels_normal_interval(successes, n):
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(successes, n, alpha=0.05, method="normal")
    assert stats.halfwidth_at(n, p=successes / n) == pytest.approx((high - low) / 2, rel=1e-9)


def test_halfwidth_at_inverts_n_for_halfwidth():
    for width in (0.05, 0.10, 0.15):
        n = stats.n_for_halfwidth(width)
        assert stats.halfwidth_at(n) <= width < stats.halfwidth_at(n - 1)
    with pytest.raises(ValueError):
        stats.halfwidth_at(0)


def test_exploratory_note_names_only_the_small_groups():
    assert stats.exploratory_note({"single_hop": 40, "multi_hop": 100}) is None
    note = stats.exploratory_note({"single_hop": 40, "multi_hop": 16, "comparison": 8})
    assert "multi_hop (n = 16: a 95% interval up to +-24 points)" in note
    assert "comparison (n = 8: a 95% interval up to +-35 points)" in note
    assert "single_hop" not in note and "exploratory" in note


# ---------------------------------------------------------------- tables and plots

ROWS = [
    {"variant": "closed book", "metrics": {"answer_accuracy": 0.4167, "n": 48, "ci_low": 0.2888, "ci_high": 0.5572,
                                           "token_f1": 0.31, "token_f1_ci_low": 0.22, "token_f1_ci_high": 0.40}},
    {"variant": "rag k=3", "metrics": {"answer_accuracy": 0.625, "n": 48, "ci_low": 0.4837, "ci_high": 0.7478,
                                       "token_f1": 0.52, "token_f1_n": 40, "token_f1_ci_low": 0.43,
                                       "token_f1_ci_high": 0.61}},
    {"variant": "rag, no interval", "metrics": {"recall_at_5": 0.7, "answer_accuracy": 0.5}},
    {"variant": "retrieval only", "metrics": {"recall_at_5": 0.8, "n": 48, "ci_low": 0.67, "ci_high": 0.89}},
]


def test_interval_table_headline_metric():
    table = stats.interval_table(ROWS)
    assert list(table.index) == ["closed book", "rag k=3", "rag, no interval"]
    assert table.loc["rag k=3", "ci_low"] == 0.4837 and table.loc["rag k=3", "n"] == 48
    assert table.loc["closed book", "shown"] == "42% [29%, 56%] (n=48)"
    # answer_accuracy is not that row's headline (recall_at_5 is), so it has no interval
    assert math.isnan(table.loc["rag, no interval", "ci_low"])
    assert table.loc["rag, no interval", "shown"] == "50%"


def test_interval_table_other_metric_uses_its_own_keys():
    table = stats.interval_table(ROWS, "token_f1", percent=False)
    assert table.loc["rag k=3", "n"] == 40 and table.loc["closed book", "n"] == 48
    assert table.loc["rag k=3", "shown"] == "0.52 [0.43, 0.61] (n=40)"
    recall = stats.interval_table(ROWS, "recall_at_5")
    assert recall.loc["retrieval only", "ci_high"] == 0.89
    assert stats.interval_table([], "token_f1").empty


def test_plot_intervals(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = stats.plot_intervals(ROWS, title="accuracy")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["closed book (n=48)", "rag k=3 (n=48)", "rag, no interval (n=?)"]
    assert ax.get_title() == "accuracy"
    ax.figure.savefig(tmp_path / "plot.png")
    fig, ax2 = plt.subplots()
    assert stats.plot_intervals(stats.interval_table(ROWS, "token_f1"), "token_f1", ax=ax2,
                                horizontal=False) is ax2
    assert [t.get_text() for t in ax2.get_xticklabels()][1] == "rag k=3 (n=40)"
    plt.close("all")


def test_import_is_light():
    heavy = ("numpy", "scipy", "statsmodels", "pandas", "matplotlib")
    code = f"import sys, labsutil.stats; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


def test_interval_table_finds_the_headline_after_other_metrics():
    """Lab rows often start with retrieval metrics; the bare interval belongs to the metric written before it."""
    row = {"variant": "v", "metrics": {"recall@5": 0.9, "mrr": 0.8, "answer_accuracy": 0.5, "n": 10,
                                       "ci_low": 0.24, "ci_high": 0.76}}
    table = stats.interval_table([row], "answer_accuracy")
    assert (table.loc["v", "ci_low"], table.loc["v", "ci_high"], table.loc["v", "n"]) == (0.24, 0.76, 10)
    assert math.isnan(stats.interval_table([row], "recall@5").loc["v", "ci_low"])

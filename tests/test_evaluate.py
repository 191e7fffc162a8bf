import numpy as np
import pytest

from labsutil import evaluate


@pytest.mark.parametrize("pred, answer, aliases, expected", [
    ("The laws of Portugal apply.", "Portugal", [], True),
    ("portugal", "Portugal", [], True),
    ("Portuguese law", "Portugal", [], False),  # whole words only
    ("ninety (90) days", "90 days", ["ninety days", "90"], True),
    ("It is the Acme Corp.", "Acme Corp", [], True),
    ("", "Lisbon", [], False),
    ("anything", "", [], False),
])
def test_contains_answer(pred, answer, aliases, expected):
    assert evaluate.contains_answer(pred, answer, aliases) is expected


def test_exact_match_normalises():
    assert evaluate.exact_match("The  Lisbon.", "lisbon")
    assert not evaluate.exact_match("Lisbon, Portugal", "Lisbon")


@pytest.mark.parametrize("q", [0, 25, 50, 95, 100])
def test_percentile_matches_numpy(q):
    values = [0.3, 1.2, 0.7, 5.0, 2.2, 0.1]
    assert evaluate.percentile(values, q) == pytest.approx(np.percentile(values, q))


def test_cost_of_generations():
    from labsutil.llm import Generation

    gens = [Generation("a", 10, 2, 0.5, "stop"), Generation("b", 20, 4, 1.5, "length")]
    cost = evaluate.cost_of(gens, train_seconds=3.14159)
    assert cost["tokens_in"] == 30 and cost["tokens_out"] == 6
    assert cost["latency_p50_s"] == 1.0 and cost["train_seconds"] == 3.14
    assert cost["peak_mem_mb"] > 0

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


@pytest.mark.parametrize("pred, answer, aliases, expected", [
    ("Lisbon", "Lisbon", [], 1.0),
    ("the city of Lisbon", "Lisbon", [], 0.5),  # [city, of, lisbon] vs [lisbon]: P = 1/3, R = 1
    ("8,500,000 EUR", "EUR 8,000,000", [], 0.5),  # "8500000" is not "8000000"
    ("days days days", "90 days", [], 0.4),  # a repeated token counts once: P = 1/3, R = 1/2
    ("ninety days", "90 days", ["ninety days"], 1.0),  # best over aliases
    ("Portugal", "Spain", [], 0.0),
    ("", "Lisbon", [], 0.0),
    ("", "", [], 0.0),  # SQuAD v1.1: an empty pair scores 0
    ("Smith-Jones", "Smith Jones", [], 0.0),  # the official script deletes punctuation: "smithjones"
])
def test_token_f1_hand_computed(pred, answer, aliases, expected):
    assert evaluate.token_f1(pred, answer, aliases) == pytest.approx(expected)


def test_normalize_answer_can_delete_punctuation_like_squad():
    assert evaluate.normalize_answer("EUR 8,000,000.") == "eur 8 000 000"
    assert evaluate.normalize_answer("EUR 8,000,000.", delete_punctuation=True) == "eur 8000000"


SQUAD_CASES = [
    ("The governing law is that of Portugal.", "Portugal", ["Portuguese law"]),
    ("Acme Corp. shall pay EUR 8,000,000 within 30 days", "EUR 8,000,000", ["8,000,000 euros", "€8,000,000"]),
    ("a five-year term", "5-year", ["five-year", "five years"]),
    ("It was signed on 17/01/2018 in Lisbon", "2018-01-17", ["17/01/2018", "17 January 2018"]),
    ("the the the answer", "an answer to the question", []),
    ("Dr. O'Neil and Mr. Smith-Jones", "O'Neil", ["Smith Jones"]),
    ("nothing in common", "Lisbon", []),
]


def test_token_f1_matches_torchmetrics_squad():
    squad = pytest.importorskip("torchmetrics.functional.text.squad").squad
    ours = []
    for i, (pred, answer, aliases) in enumerate(SQUAD_CASES):
        texts = [answer, *aliases]
        preds = [{"prediction_text": pred, "id": str(i)}]
        target = [{"answers": {"answer_start": [0] * len(texts), "text": texts}, "id": str(i)}]
        reference = float(squad(preds, target)["f1"]) / 100
        ours.append(evaluate.token_f1(pred, answer, aliases))
        assert ours[-1] == pytest.approx(reference, abs=1e-6), pred
    preds = [{"prediction_text": p, "id": str(i)} for i, (p, _, _) in enumerate(SQUAD_CASES)]
    target = [{"answers": {"answer_start": [0] * (1 + len(al)), "text": [an, *al]}, "id": str(i)}
              for i, (_, an, al) in enumerate(SQUAD_CASES)]
    assert np.mean(ours) == pytest.approx(float(squad(preds, target)["f1"]) / 100, abs=1e-6)
    assert 0 < np.mean(ours) < 1  # the cases are not all trivial


def test_peak_memory_sees_what_the_block_allocates_and_not_what_came_before():
    import time

    from labsutil.evaluate import PeakMemory, memory_metrics

    held = bytearray(64 * 2**20)  # before the block: in the process's memory, not added by the block
    with PeakMemory() as quiet:
        pass
    with PeakMemory() as busy:
        block = bytearray(96 * 2**20)
        block[:: 4096] = b"x" * len(block[:: 4096])  # touch every page so it is resident
        time.sleep(0.2)  # several samples (every 20 ms) while it is held
        del block
    assert quiet.added_mb < 16 and busy.added_mb > 64
    assert busy.mb >= busy.added_mb and memory_metrics(busy) == {"peak_mem_mb": busy.mb}
    del held

import json

import pytest

from labsutil import ledger


def test_record_writes_schema_row(cfg):
    row = ledger.record(cfg, "baseline", {"accuracy": 0.5, "nan_metric": float("nan")},
                        cost={"tokens_in": 10, "latency_p50_s": 0.2})
    lines = (cfg.run_dir / "ledger.jsonl").read_text().splitlines()
    stored = json.loads(lines[-1])
    assert set(stored) == set(ledger.ROW_KEYS)
    assert stored == row
    assert stored["metrics"]["nan_metric"] is None  # JSON has no NaN
    assert set(stored["cost"]) == set(ledger.COST_KEYS) and stored["cost"]["tokens_out"] is None
    assert stored["lab"] == "00" and stored["profile"] == "smoke" and stored["dataset"] == "tiny"


def test_read_keeps_latest_per_variant(cfg):
    ledger.record(cfg, "a", {"m": 1})
    ledger.record(cfg, "a", {"m": 2})
    ledger.record(cfg, "b", {"m": 3})
    rows = ledger.read(cfg.run_dir, lab="00")
    assert sorted((r["variant"], r["metrics"]["m"]) for r in rows) == [("a", 2), ("b", 3)]
    assert len(ledger.read(cfg.run_dir, latest=False)) == 3


def test_results_table(cfg):
    ledger.record(cfg, "a", {"acc": 0.1}, cost={"tokens_in": 5})
    ledger.record(cfg, "b", {"acc": 0.9}, cost={"tokens_in": 7})
    table = ledger.results_table(cfg.run_dir, "00")
    assert list(table.index) == ["a", "b"] and list(table.columns) == ["acc", "tokens_in"]


@pytest.mark.parametrize("metrics, cost", [({}, None), ({"acc": "high"}, None), ({"acc": 1}, {"dollars": 3})])
def test_bad_rows_are_refused(cfg, metrics, cost):
    with pytest.raises(ledger.LedgerError):
        ledger.record(cfg, "x", metrics, cost=cost)


def test_corrupt_ledger_line_is_reported(tmp_path):
    (tmp_path / "ledger.jsonl").write_text('{"lab": "00"}\nnot json\n')
    with pytest.raises(ledger.LedgerError, match="ledger.jsonl:2"):
        ledger.read(tmp_path)


def test_answers_sidecar_round_trip(cfg):
    from labsutil.rag.pipeline import Record

    records = [Record("q1", "single_hop", "Q?", "A", "A", True, tokens_in=10, tokens_out=2, latency_s=0.5),
               {"qid": "q2", "correct": 0, "token_f1": 0.25}]
    path = ledger.record_answers(cfg, "rag/k3", records)
    assert path == cfg.run_dir / "answers" / "00" / "rag" / "k3.jsonl"
    assert ledger.read_answers(cfg.run_dir, "00", "rag/k3") == [
        {"qid": "q1", "correct": True, "token_f1": 0.0, "tokens_in": 10, "tokens_out": 2, "latency_s": 0.5},
        {"qid": "q2", "correct": False, "token_f1": 0.25}]
    ledger.record_answers(cfg, "rag/k3", records[1:])  # a rerun replaces the file
    assert [a["qid"] for a in ledger.read_answers(cfg.run_dir, "00", "rag/k3")] == ["q2"]
    assert ledger.read_answers(cfg.run_dir, "00", "closed_book") is None


@pytest.mark.parametrize("records, variant", [([{"qid": "q1"}], "v"), ([{"correct": True}], "v"),
                                              ([{"qid": "q", "correct": 1}] * 2, "v"),
                                              ([{"qid": "q", "correct": 1}], "../escape")])
def test_bad_answers_are_refused(cfg, records, variant):
    with pytest.raises(ledger.LedgerError):
        ledger.record_answers(cfg, variant, records)


def test_auto_dtype_rows_record_what_it_became(tiny_dataset, tmp_path):
    from labsutil import config, llm

    auto = config.setup("02", profile="smoke", dtype="auto", dataset_dir=str(tiny_dataset), run_dir=str(tmp_path))
    fixed = config.setup("02", profile="smoke", dtype="float32", dataset_dir=str(tiny_dataset), run_dir=str(tmp_path))
    assert ledger.record(auto, "a", {"m": 1})["params"]["precision"] == llm.resolve_dtype("auto")
    assert "precision" not in ledger.record(fixed, "b", {"m": 1})["params"]

"""labsutil.roi against hand computations on a synthetic ledger with known numbers.

Prices are chosen so that the arithmetic is easy by hand: a CPU hour costs 3.6, so one CPU second costs 0.001.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from labsutil import ledger
from labsutil.config import ParameterError
from labsutil.roi import approaches as A
from labsutil.roi import costs as C
from labsutil.roi import decide as D
from labsutil.roi import tables as T
from labsutil.roi.prices import DEFAULT_PRICES_FILE, load_prices

PRICES = {"cpu_hour": 3.6, "gpu_hour": 36.0, "api_input_per_million": 1.0, "api_output_per_million": 2.0,
          "label": 0.5}
UNITS = {"cpu_hour": "hour", "gpu_hour": "hour", "api_input_per_million": "million tokens",
         "api_output_per_million": "million tokens", "label": "label", "engineer_hour": "hour"}


def write_prices(path: Path, overrides: dict | None = None, drop: str | None = None) -> Path:
    import yaml

    values = {**PRICES, **(overrides or {})}
    entries = {name: {"value": v, "unit": f"USD/{UNITS[name]}", "date": "2025-01", "source": "test"}
               for name, v in values.items() if name != drop}
    path.write_text(yaml.safe_dump({"prices": entries}))
    return path


@pytest.fixture
def prices(tmp_path):
    return load_prices(write_prices(tmp_path / "prices.yaml"))


def row(lab, variant, metrics, cost=None, **params):
    full_cost = {k: None for k in ledger.COST_KEYS}
    full_cost.update(cost or {})
    return {"lab": lab, "variant": variant, "dataset": "synthetic", "model": "m", "profile": "smoke",
            "metrics": metrics, "cost": full_cost, "params": {"batch_size": 8, **params}, "timestamp": "",
            "labsutil_version": "0"}


def answered(lab, variant, acc, n=8, p50=2.0, p95=3.0, tin=400, tout=80, **params):
    return row(lab, variant, {"answer_accuracy": acc, "n": n},
               {"tokens_in": tin, "tokens_out": tout, "latency_p50_s": p50, "latency_p95_s": p95}, **params)


def synthetic_rows(with_lab05: bool = False) -> list[dict]:
    rows = [
        # lab 02: closed book 0.25 s/q (one batch of 8 taking 2 s), RAG k=3 0.5 s/q and 300 prompt tokens/q
        answered("02", "closed_book", 0.25, top_k=3),
        answered("02", "rag_k1", 0.5, p50=3.0, top_k=3),
        answered("02", "rag_k3", 0.75, p50=4.0, p95=5.0, tin=2400, top_k=3),
        row("02", "retrieval_dense", {"recall@5": 0.9, "n_questions": 40}),
        # lab 01: accuracy without n (n_items in params); cot is the best and costs what closed book costs
        row("01", "qa/zero_shot", {"accuracy": 0.25}, {"tokens_in": 400, "tokens_out": 80, "latency_p50_s": 1.0,
                                                       "latency_p95_s": 1.0}, n_items=8, task="qa"),
        row("01", "qa/cot", {"accuracy": 0.5}, {"tokens_in": 400, "tokens_out": 80, "latency_p50_s": 2.0,
                                                "latency_p95_s": 3.0}, n_items=8, task="qa"),
        row("01", "classify/cot", {"accuracy": 1.0}, {"latency_p50_s": 1.0}, n_items=8, task="classify"),
        # lab 03: the combined pipeline uses the cross-encoder, trained for 360 s
        answered("03", "best_combined", 0.875, p50=8.0, p95=9.0, components=["rerank_ce"]),
        row("03", "post/rerank_ce", {"answer_accuracy": 0.75, "n": 8},
            {"latency_p50_s": 8.0, "train_seconds": 360.0}, component="rerank_ce", phase="post"),
        # lab 04: graph_ppr pooled over the types every graph mode answered: (1.0 x 2 + 0.5 x 2) / 4 = 0.75
        answered("04", "graph_ppr/single_hop", 1.0, n=2, p50=1.0, question_type="single_hop"),
        answered("04", "graph_ppr/multi_hop", 0.5, n=2, p50=3.0, question_type="multi_hop"),
        answered("04", "graph_ppr/aggregation", 0.0, n=2, question_type="aggregation"),
        answered("04", "graph_local/single_hop", 0.5, n=2, question_type="single_hop"),
        answered("04", "graph_local/multi_hop", 0.0, n=2, question_type="multi_hop"),
        answered("04", "vector/single_hop", 1.0, n=2, question_type="single_hop"),
        answered("04", "graph_ppr@gold/multi_hop", 1.0, n=2, question_type="multi_hop"),
    ]
    if with_lab05:
        lora = answered("05", "lora_r8", 0.875, p50=0.8, p95=0.9, roi_approach="lora_finetune")
        lora["cost"]["train_seconds"] = 3600.0
        rows += [lora, answered("05", "full_ft", 0.5, roi_approach=None)]
    return rows


def write_ledger(run_dir: Path, rows: list[dict]) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "ledger.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run_dir


def by_key(gathered):
    return {m.approach: m for m in gathered.measured}


# --------------------------------------------------------------------------- prices


def test_shipped_prices_load_with_date_and_source():
    p = load_prices(None)
    assert p.path == str(DEFAULT_PRICES_FILE) and p.currency == "USD"
    for name in ("cpu_hour", "gpu_hour", "api_input_per_million", "api_output_per_million", "label"):
        item = p.items[name]
        assert item.value > 0 and item.date and item.source, name
    assert p["engineer_hour"] == 0.0 and "engineer_hour" not in p.priced()  # optional, left out by default


@pytest.mark.parametrize("change, words", [
    ({"overrides": {"gpu_hour": -1.0}}, ["'gpu_hour'", "negative"]),
    ({"drop": "label"}, ["'label'", "missing"]),
    ({"overrides": {"cpu_hour": None}}, ["'cpu_hour'", "no value"]),
    ({"overrides": {"cpu_hour": "cheap"}}, ["'cpu_hour'", "not a number"]),
])
def test_bad_price_is_refused_naming_it(tmp_path, change, words):
    path = write_prices(tmp_path / "p.yaml", **change)
    with pytest.raises(ParameterError) as err:
        load_prices(path)
    for word in words:
        assert word in str(err.value)


def test_wrong_unit_and_missing_file_are_refused(tmp_path):
    import yaml

    path = write_prices(tmp_path / "p.yaml")
    doc = yaml.safe_load(path.read_text())
    doc["prices"]["cpu_hour"]["unit"] = "USD/minute"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ParameterError, match="'cpu_hour' has unit 'USD/minute'"):
        load_prices(path)
    with pytest.raises(ParameterError, match="prices_file"):
        load_prices(tmp_path / "nope.yaml")


def test_lab09_parameters_resolve(tiny_dataset, tmp_path):
    from labsutil import config

    cfg = config.resolve("09", profile="smoke", dataset_dir=str(tiny_dataset), run_dir=str(tmp_path))
    assert cfg.prices_file is None and cfg.monthly_queries > 0 and cfg.sensitivity == 0.5
    with pytest.raises(ParameterError, match="monthly_queries"):
        config.resolve("09", dataset_dir=str(tiny_dataset), monthly_queries=0)


# --------------------------------------------------------------------------- which rows stand for which approach


def test_approaches_are_selected_and_measured(tmp_path):
    g = A.gather(write_ledger(tmp_path / "run", synthetic_rows()))
    m = by_key(g)
    assert set(m) == {"closed_book", "prompting", "rag", "advanced_rag", "kg_rag"}
    assert m["rag"].variants == ("rag_k3",)  # the lab's own top_k, not the best k by accident
    assert m["prompting"].variants == ("qa/cot",) and m["prompting"].n == 8  # n from params n_items
    assert m["closed_book"].compute_s_per_q == pytest.approx(2.0 / 8)  # one batch of 8 took 2 s
    assert m["rag"].tokens_in_per_q == pytest.approx(300) and m["rag"].tokens_out_per_q == pytest.approx(10)
    assert m["advanced_rag"].train_seconds == pytest.approx(360.0)  # its reranker's training
    kg = m["kg_rag"]
    assert kg.variants == ("graph_ppr/multi_hop", "graph_ppr/single_hop") and kg.n == 4
    assert kg.accuracy == pytest.approx(0.75)
    # graph_ppr answered its 6 questions (3 types) in one batch of 8: a question waited 2 s on average
    assert kg.compute_s_per_q == pytest.approx((1.0 * 2 + 3.0 * 2) / 4 * 1 / 6)
    assert m["closed_book"].knowledge == "none" and m["rag"].knowledge == "documents"


def test_wilson_interval_matches_the_formula():
    z = 1.959963984540054
    n, k = 8, 6
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert A.wilson_interval(k, n) == pytest.approx((centre - half, centre + half))


def test_interval_from_the_row_when_it_has_one(tmp_path):
    rows = synthetic_rows()
    rows[0]["metrics"].update({"ci_low": 0.11, "ci_high": 0.55})
    m = by_key(A.gather(write_ledger(tmp_path / "run", rows)))
    assert (m["closed_book"].ci_low, m["closed_book"].ci_high) == (0.11, 0.55)
    assert (m["rag"].ci_low, m["rag"].ci_high) == pytest.approx(A.wilson_interval(6, 8))


def test_missing_lab05_leaves_fine_tuning_out_with_a_note_naming_lab05(tmp_path, prices, capsys):
    g = A.gather(write_ledger(tmp_path / "run", synthetic_rows()))
    assert "lora_finetune" in g.missing and "lab 05" in g.missing["lora_finetune"]
    table = T.summary(g.measured, prices, D.Scenario("s", 1000, 1 / 3, 10, 180))
    assert "lora_finetune" not in table.index and len(table) == 5
    print("\n".join(A.describe_missing(g)))
    out = capsys.readouterr().out
    assert "lora_finetune (LoRA fine-tuning) is left out: run lab 05 (fine-tuning)" in out


def test_tagged_rows_of_later_labs_are_picked(tmp_path):
    g = A.gather(write_ledger(tmp_path / "run", synthetic_rows(with_lab05=True)))
    lora = by_key(g)["lora_finetune"]
    assert lora.variants == ("lora_r8",) and lora.train_seconds == 3600.0 and lora.knowledge == "weights"
    assert "lora_finetune" not in g.missing


def test_lab_with_rows_but_no_tag_says_so(tmp_path):
    rows = synthetic_rows() + [answered("05", "lora_r8", 0.875)]
    g = A.gather(write_ledger(tmp_path / "run", rows))
    assert "none matches rows tagged params['roi_approach'] = 'lora_finetune'" in g.missing["lora_finetune"]


def test_serving_variant_losing_quality_is_dropped(tmp_path):
    rows = synthetic_rows() + [
        answered("08", "int8", 0.0, n=40, roi_approach="serving:int8", roi_base="rag"),
        answered("08", "distilled", 0.75, roi_approach="serving:distilled", roi_base="rag")]
    g = A.gather(write_ledger(tmp_path / "run", rows))
    assert "serving:distilled" in by_key(g) and by_key(g)["serving:distilled"].knowledge == "documents"
    assert "serving:int8" in g.dropped and "loses quality" in g.dropped["serving:int8"]


def test_serving_variant_on_shorter_prompts_is_flagged(tmp_path):
    rows = synthetic_rows() + [
        answered("08", "bf16", 0.5, tin=100, roi_approach="serving:bf16", roi_base="rag", top_k=1),
        answered("08", "fp32", 0.5, tin=2400, roi_approach="serving:fp32", roi_base="rag", top_k=3)]
    g = A.gather(write_ledger(tmp_path / "run", rows))
    short = " ".join(by_key(g)["serving:bf16"].notes)
    assert "of rag's prompt tokens per query (lab 08 retrieved 1 chunk(s) per prompt)" in short and "shorter" in short
    assert not any("prompt tokens" in n for n in by_key(g)["serving:fp32"].notes)


def test_an_approach_on_another_chunking_than_rag_is_flagged(tmp_path):
    rows = [answered("02", "rag_k3", 0.5, top_k=3, chunk_size=500),
            answered("07", "raft_p60/rag", 0.5, tin=250, roi_approach="raft_rag", chunk_size=250),
            answered("04", "graph_local", 0.5, chunk_size=500, question_type="multi_hop")]
    g = A.gather(write_ledger(tmp_path / "run", rows))
    assert any("250-character chunks, RAG's 500" in n for n in by_key(g)["raft_rag"].notes)
    assert not any("chunks" in n for m in g.measured if m.approach != "raft_rag" for n in m.notes)


def test_other_profiles_and_datasets_are_ignored(tmp_path):
    rows = synthetic_rows()
    other = answered("02", "closed_book", 1.0)
    other["profile"] = "workshop"
    g = A.gather(write_ledger(tmp_path / "run", rows + [other]), dataset="synthetic", profile="smoke")
    assert by_key(g)["closed_book"].accuracy == 0.25


# --------------------------------------------------------------------------- question alignment


def _sidecars(run_dir: Path, pattern: dict[tuple[str, str], list[tuple[str, bool]]]):
    for (lab, variant), answers in pattern.items():
        ledger.record_answers(SimpleNamespace(run_dir=run_dir, lab=lab), variant,
                              [{"qid": q, "correct": c, "tokens_in": 10, "tokens_out": 2} for q, c in answers])


def test_without_sidecars_the_sets_are_not_aligned(tmp_path):
    g = A.gather(write_ledger(tmp_path / "run", synthetic_rows()))
    assert not g.aligned and any("could not be aligned" in n for n in g.notes)


def test_too_few_common_questions_are_not_used_for_the_headline(tmp_path):
    run = write_ledger(tmp_path / "run", [r for r in synthetic_rows() if r["lab"] in ("02", "03")])
    _sidecars(run, {
        ("02", "closed_book"): [("q1", False), ("q2", True), ("q3", False), ("q4", True)],
        ("02", "rag_k3"): [("q1", True), ("q5", True), ("q6", False), ("q7", True)],
        ("03", "best_combined"): [("q1", True), ("q8", True), ("q9", True), ("q10", True)],
    })
    g = A.gather(run)
    assert not g.aligned and any("only 1 question(s) were answered by every approach" in n for n in g.notes)
    assert all(x.n != 1 for x in by_key(g).values())  # each on its own questions, not on the one in common


def test_common_questions_when_every_lab_kept_its_answers(tmp_path):
    run = write_ledger(tmp_path / "run", [r for r in synthetic_rows() if r["lab"] in ("02", "03")])
    _sidecars(run, {
        ("02", "closed_book"): [("q1", False), ("q2", True), ("q3", False)],
        ("02", "rag_k3"): [("q1", True), ("q2", True), ("q3", False), ("q4", True)],
        ("03", "best_combined"): [("q1", True), ("q2", True), ("q3", True), ("q5", True)],
    })
    g = A.gather(run)
    m = by_key(g)
    assert g.aligned and all(x.n == 3 for x in m.values())
    assert m["closed_book"].accuracy == pytest.approx(1 / 3) and m["rag"].accuracy == pytest.approx(2 / 3)
    assert (m["rag"].ci_low, m["rag"].ci_high) == pytest.approx(A.wilson_interval(2, 3))
    assert m["rag"].tokens_in_per_q == 10  # from the answers of the common questions
    assert any("3 questions every approach answered" in n for n in g.notes)


# --------------------------------------------------------------------------- costs and break-even


def test_costs_by_hand(tmp_path, prices):
    m = by_key(A.gather(write_ledger(tmp_path / "run", synthetic_rows(with_lab05=True))))
    cb = C.costs(m["closed_book"], prices)
    assert cb.per_1k == pytest.approx(0.25)  # 1,000 x 0.25 s x 0.001 per s
    assert cb.api_per_1k == pytest.approx(1000 * (50 * 1.0 + 10 * 2.0) / 1e6)
    assert cb.one_time == 0 and cb.per_correct == pytest.approx(0.00025 / 0.25)
    adv = C.costs(m["advanced_rag"], prices)
    assert adv.one_time == pytest.approx(0.36) and adv.per_1k == pytest.approx(1.0)
    lora = C.costs(m["lora_finetune"], prices)
    assert lora.one_time == pytest.approx(3.6) and lora.per_query == pytest.approx(0.0001)


def test_labels_and_engineer_hours_enter_the_one_time_cost(tmp_path):
    import yaml

    path = write_prices(tmp_path / "p.yaml", {"engineer_hour": 100.0})
    doc = yaml.safe_load(path.read_text())
    doc["engineer_hours"] = {"feedback_champion": 2}
    path.write_text(yaml.safe_dump(doc))
    p = load_prices(path)
    champion = answered("06", "round2", 0.75, roi_approach="feedback_champion")
    champion["metrics"]["n_labels"] = 40
    champion["cost"]["train_seconds"] = 100.0
    m = by_key(A.gather(write_ledger(tmp_path / "run", [champion])))["feedback_champion"]
    c = C.costs(m, p)
    assert (c.train, c.labels, c.engineer) == pytest.approx((0.1, 20.0, 200.0)) and c.one_time == pytest.approx(220.1)


def test_break_even_closed_form():
    crosses = C.break_even(3.6, 0.0001, 0.0, 0.0005, ("lora", "rag"))
    assert crosses.kind == "crosses" and crosses.volume == pytest.approx(9000)
    assert (crosses.cheaper_below, crosses.cheaper_above) == ("rag", "lora")
    assert 3.6 + 9000 * 0.0001 == pytest.approx(9000 * 0.0005)
    never = C.break_even(0.36, 0.001, 0.0, 0.0005, ("adv", "rag"))  # dearer at the start and per query
    assert never.kind == "never" and never.cheaper_below == never.cheaper_above == "rag" and never.volume is None
    parallel = C.break_even(1.0, 0.001, 2.0, 0.001, ("a", "b"))
    assert parallel.kind == "never" and parallel.cheaper_below == "a"
    same_start = C.break_even(1.0, 0.002, 1.0, 0.001, ("a", "b"))
    assert same_start.kind == "never" and same_start.cheaper_above == "b"
    equal = C.break_even(1.0, 0.001, 1.0, 0.001, ("a", "b"))
    assert equal.kind == "equal" and equal.describe() == "always equal"


def test_break_even_table_on_the_ledger(tmp_path, prices):
    g = A.gather(write_ledger(tmp_path / "run", synthetic_rows(with_lab05=True)))
    s = D.Scenario("s", 10_000, 1.0, 18, 180)
    table = T.break_evens(g.measured, prices, s).set_index(["a", "b"])
    assert table.loc[("closed_book", "prompting"), "lifetime"] == "always equal"  # same cost, no one-time cost
    assert table.loc[("rag", "advanced_rag"), "lifetime"] == "never: rag is always cheaper"
    assert table.loc[("rag", "lora_finetune"), "total queries"] == pytest.approx(9000)
    # retrained monthly, LoRA carries 3.6 a month: it pays off above 3.6 / 0.0004 = 9,000 queries a month
    assert table.loc[("rag", "lora_finetune"), "queries/month"] == pytest.approx(9000)


def test_retraining_cadence_and_stale_knowledge(tmp_path, prices):
    from scipy.integrate import quad

    m = by_key(A.gather(write_ledger(tmp_path / "run", synthetic_rows(with_lab05=True))))
    lora, rag = m["lora_finetune"], m["rag"]
    cl, cr = C.costs(lora, prices), C.costs(rag, prices)
    kw = dict(docs_per_month=18, n_docs=180)
    assert C.monthly_cost(lora, cl, 10_000, retrains_per_month=1.0, **kw) == pytest.approx(3.6 + 1.0)
    assert C.monthly_cost(lora, cl, 10_000, retrains_per_month=1 / 3, **kw) == pytest.approx(1.2 + 1.0)
    assert C.monthly_cost(lora, cl, 10_000, retrains_per_month=1 / 12, **kw) == pytest.approx(0.3 + 1.0)
    assert C.monthly_cost(rag, cr, 10_000, retrains_per_month=1.0, **kw) == pytest.approx(5.0)
    f = C.retraining_frequency_break_even(cl, cr, volume=10_000, docs_refresh=0.0)
    assert f == pytest.approx(10_000 * 0.0004 / 3.6)  # 1.11 retrainings a month cost as much as RAG
    # the average stale share is the mean of the changed share over the period (checked against scipy)
    for months in (1, 3, 12):
        expected = quad(lambda t: C.changed_share(18, 180, t), 0, months)[0] / months
        assert C.mean_stale_share(18, 180, months) == pytest.approx(expected)
    assert C.stale_share(rag, retrains_per_month=1, **kw) == 0.0
    assert C.stale_share(m["closed_book"], retrains_per_month=1, **kw) is None
    table = T.retraining(list(m.values()), prices, D.Scenario("s", 10_000, 1.0, 18, 180))
    assert table.loc["lora_finetune", "yearly: cost/month"] == pytest.approx(1.3)
    assert table.loc["closed_book", "monthly: stale"] == "never learned"


def test_pareto_front():
    points = {"a": (0.5, 1.0), "b": (0.7, 2.0), "c": (0.6, 3.0), "d": (0.7, 2.0), "e": (0.4, 1.0)}
    assert C.pareto_front(points) == ["a", "b", "d"]  # c and e are beaten; b and d tie


# --------------------------------------------------------------------------- decisions


def test_recommendation_rules(tmp_path, prices):
    m = by_key(A.gather(write_ledger(tmp_path / "run", synthetic_rows(with_lab05=True))))
    measured = list(m.values())
    s = D.Scenario("high", 1_000_000, 1 / 12, 1.8, 180)
    rec = D.recommend(measured, prices, s)
    # most accurate: advanced_rag 0.875 (n 8) [0.53, 0.98]; tied: those with accuracy inside it
    assert rec.choice == "lora_finetune" and set(rec.tied) == {"advanced_rag", "lora_finetune", "rag", "kg_rag"}
    assert rec.monthly["lora_finetune"] == pytest.approx(0.3 + 1_000_000 * 0.0001)
    strict = D.recommend(measured, prices, D.Scenario("strict", 1000, 1, 1, 180, latency_limit_s=3.5))
    assert "advanced_rag" not in strict.eligible and "rag" not in strict.eligible  # p95 9 s and 5 s
    nothing = D.recommend(measured, prices, D.Scenario("strict", 1000, 1, 1, 180, latency_limit_s=0.1))
    assert nothing.choice is None and "no measured approach meets" in nothing.reason


def test_sensitivity_scales_and_flips(tmp_path, prices):
    m = by_key(A.gather(write_ledger(tmp_path / "run", synthetic_rows(with_lab05=True))))
    s = D.Scenario("s", 1_000_000, 1 / 12, 1.8, 180)
    swings = {(w.price, w.factor): w for w in D.sensitivity(list(m.values()), prices, s)}
    base = D.recommend(list(m.values()), prices, s)
    gap = base.monthly[swings[("cpu_hour", 0.5)].runner_up] - base.monthly[base.choice]
    # every cost here is CPU time: scaling the CPU price scales the gap and keeps the ranking
    assert swings[("cpu_hour", 0.5)].advantage == pytest.approx(0.5 * gap)
    assert swings[("cpu_hour", 1.5)].advantage == pytest.approx(1.5 * gap)
    assert swings[("gpu_hour", 1.5)].advantage == pytest.approx(gap)  # nothing ran on a GPU
    assert swings[("cpu_hour", 1.5)].choice_cost == pytest.approx(1.5 * base.monthly[base.choice])
    assert all(w.choice == base.choice for w in swings.values())


def test_sensitivity_flips_when_labels_dominate(tmp_path, prices):
    champion = answered("06", "round2", 0.875, p50=0.8, roi_approach="feedback_champion")
    champion["metrics"]["n_labels"] = 20  # 20 x 0.5 = 10 per retraining
    rows = [r for r in synthetic_rows() if r["lab"] != "04"]  # two close rivals: RAG and the champion
    measured = A.gather(write_ledger(tmp_path / "run", rows + [champion])).measured
    low = D.Scenario("low", 20_000, 1.0, 18, 180)  # retrained monthly: champion 10 + 2, RAG 10
    base = D.recommend(measured, prices, low)
    assert base.choice == "rag" and base.tied[1] == "feedback_champion"
    swings = {(w.price, w.factor): w for w in D.sensitivity(measured, prices, low)}
    cheaper_labels, dearer_labels = swings[("label", 0.5)], swings[("label", 1.5)]
    assert cheaper_labels.choice == "feedback_champion" and cheaper_labels.advantage == pytest.approx(7 - 10)
    assert dearer_labels.choice == "rag" and dearer_labels.advantage == pytest.approx(17 - 10)
    # a dearer CPU hour weighs on RAG's 20,000 queries (10 -> 15) more than on the champion's (12 -> 13)
    assert swings[("cpu_hour", 1.5)].choice == "feedback_champion"
    frame = D.sensitivity_frame(list(swings.values()), base.choice)
    assert sorted(map(tuple, frame[frame["changes"]][["price", "factor"]].values)) == [("cpu_hour", 1.5), ("label", 0.5)]


def test_cascade_with_and_without_answers(tmp_path, prices):
    run = write_ledger(tmp_path / "run", [r for r in synthetic_rows() if r["lab"] in ("02", "03")])
    text, result = D.cascade_takeaway(A.gather(run).measured, prices)
    assert result is None and "Cannot be computed" in text
    _sidecars(run, {
        ("02", "closed_book"): [("q1", True), ("q2", False), ("q3", False), ("q4", True)],
        ("02", "rag_k3"): [("q1", True), ("q2", True), ("q3", False), ("q4", True)],
        ("03", "best_combined"): [("q1", True), ("q2", True), ("q3", True), ("q4", True)],
    })
    text, result = D.cascade_takeaway(A.gather(run).measured, prices)
    # closed book (0.00025 per query) first; the best pipeline (0.001) for the 2 of 4 it gets wrong
    assert (result.cheap, result.strong, result.n) == ("closed_book", "advanced_rag", 4)
    assert result.cascade_accuracy == 1.0 and result.escalated == 0.5
    assert result.cost_per_query == pytest.approx(0.00025 + 0.5 * 0.001)
    assert result.max_escalation == pytest.approx(1 - 0.00025 / 0.001)
    assert result.cheaper_at_equal_quality and "cheaper at equal quality" in text


def test_retraining_takeaway_needs_both_sides(tmp_path, prices):
    s = D.Scenario("s", 10_000, 1.0, 18, 180)
    without = A.gather(write_ledger(tmp_path / "a", synthetic_rows())).measured
    assert "lab 05" in D.retraining_takeaway(without, prices, s)
    with_ft = A.gather(write_ledger(tmp_path / "b", synthetic_rows(with_lab05=True))).measured
    assert "every" in D.retraining_takeaway(with_ft, prices, s)


# --------------------------------------------------------------------------- ledger rows and the run report


def test_rows_plots_and_report_summary(tmp_path, tiny_dataset, prices):
    from labsutil import config
    from labsutil.roi import plots, report_summary

    run = write_ledger(tmp_path / "run", synthetic_rows(with_lab05=True))
    assert report_summary(run) is None
    cfg = config.setup("09", profile="smoke", dataset_dir=str(tiny_dataset), run_dir=str(run))
    g = A.gather(run)
    scen = D.scenarios(monthly_queries=10_000, docs_per_month=18, retrain_every_months=3, n_docs=180,
                       low_volume=1000, high_volume=10**7, latency_limit_s=2.0)
    recs = [D.recommend(g.measured, prices, s) for s in scen]
    T.record(cfg, g.measured, prices, recs, g.aligned)
    summary = report_summary(run)
    assert set(summary.index) == {m.approach for m in g.measured}
    assert summary.loc["lora_finetune", "one-time USD"] == pytest.approx(3.6)
    assert summary.loc["rag", "USD per 1k queries"] == pytest.approx(0.5)
    fig = plots.cost_vs_volume(g.measured, prices, scen[0])
    assert ledger.save_plot(fig, cfg, "cost_vs_volume").is_file()
    swings = D.sensitivity(g.measured, prices, scen[0])
    assert plots.tornado(swings, recs[0], "USD") is not None
    assert plots.pareto(g.measured, prices, scen[0]) is not None


def test_never_right_is_never_recommended_and_quality_alone_decides(tmp_path, prices):
    rows = synthetic_rows()
    rows[4]["metrics"]["accuracy"] = 0.0  # qa/zero_shot
    rows[5]["metrics"]["accuracy"] = 0.0  # qa/cot: prompting is never right, and the fastest
    measured = A.gather(write_ledger(tmp_path / "run", rows)).measured
    rec = D.recommend(measured, prices, D.Scenario("strict", 1000, 1, 1, 180, latency_limit_s=3.0))
    assert rec.choice == "kg_rag" and "prompting (never right)" in rec.reason and rec.tied == ["kg_rag"]
    swings = D.sensitivity(measured, prices, D.Scenario("strict", 1000, 1, 1, 180, latency_limit_s=3.0))
    assert swings and all(w.runner_up is None and w.advantage is None for w in swings)  # nothing ties with it

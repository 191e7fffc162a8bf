"""Lab 07 (RAG + fine-tuning, RAFT): assertions on the ledger rows the notebook wrote."""
from labsutil.data import load_dataset
from labsutil.evaluate import normalize_answer


def _floats(text):
    return [float(x) for x in str(text).replace(" ", "").split(",") if x]


def check(rows, run_dir):
    by = {r["variant"]: r for r in rows}
    params = by["base/rag"]["params"]
    headline = f"raft_p{round(100 * params['raft_p'])}"

    # every variant is present, each with its n and 95% interval
    needed = {"base/closed_book", "base/rag", "dsf/closed_book", "dsf/rag", f"{headline}/rag",
              *[f"{m}/oracle_d{d:g}" for m in ("base", "dsf", headline) for d in _floats(params["eval_distractors"])],
              *[f"raft_p{round(100 * p)}/rag" for p in _floats(params["p_ablation"])]}
    if params["quote_variant"]:
        needed.add("raft_quote/rag")
    assert needed <= set(by), sorted(needed - set(by))
    assert {"train/dsf", f"train/{headline}"} <= set(by)
    scored = [v for v in by if not v.startswith(("train/", "verdict/"))]
    assert {by[v]["params"]["precision"] for v in scored} in ({"float32"}, {"bfloat16"}), "one precision for all"
    ds = load_dataset(params["dataset_dir"])
    if ds.questions(split="test", types=["unanswerable"]):
        assert {"base/unanswerable", f"{headline}/unanswerable"} <= set(by)
    test_ids = {q.qid for q in ds.questions(split="test")}
    test_texts = [normalize_answer(q.question) for q in ds.questions(split="test")]
    n = by["base/rag"]["metrics"]["n"]
    robust_ns = {r["metrics"]["n"] for v, r in by.items() if "/oracle_d" in v}
    for variant, row in by.items():
        m = row["metrics"]
        if variant.startswith("train/"):
            # training data from the train split only: re-checked here from the question ids the row lists
            trained = row["params"]["train_qids"]
            assert trained and not set(trained) & test_ids, (variant, sorted(set(trained) & test_ids)[:3])
            trained_texts = {normalize_answer(q.question) for q in ds.qa if q.qid in set(trained)}
            assert not trained_texts & set(test_texts), variant
            assert m["leak_by_id"] == 0 and m["leak_by_text"] == 0, (variant, m)
            assert m["examples"] == len(trained) and row["cost"]["train_seconds"] > 0, variant
            assert 0.0 <= m["oracle_share"] <= 1.0
            continue
        if variant.startswith("verdict/"):
            assert row["params"]["verdict"] in ("agrees", "disagrees", "cannot be decided"), variant
            assert m["vs_diff_ci_low"] <= m["vs_diff"] <= m["vs_diff_ci_high"] and m["vs_n"] >= 1, variant
            continue
        assert 0.0 <= m["answer_accuracy"] <= 1.0 and m["ci_low"] <= m["answer_accuracy"] <= m["ci_high"], variant
        assert m["prompt_tokens"] > 0 and row["cost"]["latency_p50_s"] >= 0, variant
        if "/oracle_d" in variant:  # the controlled evaluation: one sample of robust_n per type for every row
            assert m["n"] <= n and robust_ns == {m["n"]}, (variant, m["n"], robust_ns, n)
            for qtype in ("single_hop", "multi_hop", "comparison"):
                in_rag = by["base/rag"]["metrics"].get(f"n_{qtype}", 0)
                expected = in_rag if params.get("robust_n") is None else min(params["robust_n"], in_rag)
                assert m.get(f"n_{qtype}", 0) == expected, (variant, qtype, m.get(f"n_{qtype}"), expected)
        elif not variant.endswith("/unanswerable"):
            assert m["n"] == n, (variant, m["n"], n)  # the same test questions for every variant
    # the oracle share of each RAFT run follows its P (up to the seeded draw)
    for p in [params["raft_p"], *_floats(params["p_ablation"])]:
        share = by[f"train/raft_p{round(100 * p)}"]["metrics"]["oracle_share"]
        assert (share == p) if p in (0.0, 1.0) else abs(share - p) <= 0.3, (p, share)
    # the headline comparisons were decided (or declared undecidable) and recorded
    assert {f"verdict/{headline}/rag_vs_base/rag", f"verdict/{headline}/rag_vs_dsf/rag", "verdict/dsf/rag_vs_dsf/closed_book"} <= set(by)
    # a closed-book prompt is shorter than a RAG prompt; RAG prompts hold the retrieved chunks
    assert by["base/closed_book"]["metrics"]["prompt_tokens"] < by["base/rag"]["metrics"]["prompt_tokens"]

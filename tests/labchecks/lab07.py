"""Lab 07 (RAG + fine-tuning, RAFT): assertions on the ledger rows the notebook wrote."""


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
    n = by["base/rag"]["metrics"]["n"]
    for variant, row in by.items():
        m = row["metrics"]
        if variant.startswith("train/"):
            # training data from the train split only: no test question by id or by text
            assert m["leak_by_id"] == 0 and m["leak_by_text"] == 0, (variant, m)
            assert m["examples"] >= 1 and row["cost"]["train_seconds"] > 0, variant
            assert 0.0 <= m["oracle_share"] <= 1.0
            continue
        assert 0.0 <= m["answer_accuracy"] <= 1.0 and m["ci_low"] <= m["answer_accuracy"] <= m["ci_high"], variant
        assert m["prompt_tokens"] > 0 and row["cost"]["latency_p50_s"] >= 0, variant
        if not variant.endswith("/unanswerable"):
            assert m["n"] == n, (variant, m["n"], n)  # the same test questions for every variant
    # the oracle share of each RAFT run follows its P (up to the seeded draw)
    for p in [params["raft_p"], *_floats(params["p_ablation"])]:
        share = by[f"train/raft_p{round(100 * p)}"]["metrics"]["oracle_share"]
        assert (share == p) if p in (0.0, 1.0) else abs(share - p) <= 0.3, (p, share)
    # a closed-book prompt is shorter than a RAG prompt; RAG prompts hold the retrieved chunks
    assert by["base/closed_book"]["metrics"]["prompt_tokens"] < by["base/rag"]["metrics"]["prompt_tokens"]

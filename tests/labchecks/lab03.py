"""Lab 03 (advanced RAG): assertions on the ledger rows the notebook wrote."""
from labchecks import assert_accuracies_have_intervals
from labsutil.rag import pipeline

# Every component of the ablation on a dataset with multi-hop questions and entity metadata (the course's).
FULL = {"rewrite", "multi_query", "hyde", "decompose", "entity_filter", "bm25", "hybrid_rrf", "small_to_big",
        "entity_hop", "mmr", "compress", "reorder"}
LLM_STEPS = {"rewrite", "multi_query", "hyde"}


def _in01(value):
    return value is not None and 0.0 <= value <= 1.0


def check(rows, run_dir):
    assert_accuracies_have_intervals(rows)
    by = {r["variant"]: r for r in rows}
    assert {"baseline", "ablation_plan", "best_combined"} <= set(by), sorted(by)
    plan = by["ablation_plan"]["params"]
    components, skipped = set(plan["components"]), set(plan["skipped"])
    reranker = by["baseline"]["params"]["reranker"]
    expected = set(FULL) | ({"rerank_ce"} if reranker in ("cross-encoder", "both") else set()) \
        | ({"rerank_llm"} if reranker in ("llm", "both") else set())
    if by["baseline"]["dataset"] == "contracts":
        assert not skipped, f"nothing should be skipped on the course dataset: {skipped}"
    assert expected - skipped <= components, f"ablation components missing: {sorted(expected - skipped - components)}"

    base = by["baseline"]["metrics"]
    types = [k[4:] for k in pipeline.type_accuracy_keys(base)]
    assert types, base
    for key in ("recall@5", "all_recall@5", "mrr", "context_recall", "answer_accuracy"):
        assert _in01(base[key]), (key, base[key])

    # one row per component, with every delta the ablation table needs, in range
    by_component = {r["params"].get("component"): r for r in rows if r["params"].get("phase") in ("pre", "retrieval", "post")}
    assert components <= set(by_component), sorted(components - set(by_component))
    for name in components:
        m = by_component[name]["metrics"]
        for key in ("recall@5", "mrr", "answer_accuracy", "context_recall"):
            assert _in01(m[key]), (name, key, m[key])
        for key in ("delta_recall@5", "delta_mrr", "delta_answer_accuracy", "added_tokens_per_question",
                    "added_latency_p50_s", *[f"delta_acc_{t}" for t in types]):
            assert m.get(key) is not None, (name, key)
        assert abs(m["delta_answer_accuracy"] - (m["answer_accuracy"] - base["answer_accuracy"])) < 1e-3
        assert m["n"] == base["n"] == m["vs_baseline_n"]  # paired with the baseline on the same questions
        assert m["vs_baseline_diff_ci_low"] <= m["delta_answer_accuracy"] <= m["vs_baseline_diff_ci_high"], name
    for name in LLM_STEPS & components:  # pre-retrieval LLM calls cost tokens
        assert by_component[name]["metrics"]["added_tokens_per_question"] > 0, name
    if "rerank_ce" in components:
        assert by_component["rerank_ce"]["cost"]["train_seconds"] > 0
        # the reranker's own ranking was checked on the dev split, alone and fused, against the retriever
        checks = {v.split("/", 1)[1]: r["metrics"] for v, r in by.items() if v.startswith("rerank_check/")}
        assert {"retriever_no_reranking", "cross_encoder_fine_tuned",
                "cross_encoder_fine_tuned_fused_with_the_retriever"} <= set(checks), sorted(checks)
        for name, m in checks.items():
            assert _in01(m["mrr"]) and m["mrr_ci_low"] <= m["mrr"] <= m["mrr_ci_high"] and m["mrr_n"] > 0, name
            assert m["recall@1"] <= m["recall@3"] + 1e-9, name
    best = by["best_combined"]
    assert set(best["params"]["components"]) <= components and _in01(best["metrics"]["answer_accuracy"])
    _check_confirmation(by, best, run_dir)

    # retrievers on every test question: in range; RRF against the better single retriever as a paired verdict
    ret = {n: by[f"retrieval_all/{n}"]["metrics"] for n in ("dense", "bm25", "hybrid_rrf", "small_to_big")}
    for n, m in ret.items():
        assert m["n_questions"] > 0 and all(_in01(m[k]) for k in ("recall@1", "recall@5", "mrr", "ndcg@5")), n
        assert m["recall@1"] <= m["recall@5"] <= m["recall@10"]
    rrf = next(r for r in rows if r["variant"].startswith("verdict/hybrid_rrf_vs_"))  # Cormack et al., paired
    m = rrf["metrics"]
    assert m["vs_diff_ci_low"] <= m["vs_diff"] <= m["vs_diff_ci_high"] and m["vs_n"] == ret["hybrid_rrf"]["n_questions"]
    assert rrf["params"]["verdict"] in ("agrees", "disagrees", "cannot be decided"), rrf["params"]

    # ragas rows (non-LLM metrics) in range
    for name in ("baseline", "best_combined"):
        scores = by[f"ragas/{name}"]["metrics"]
        for key in ("id_based_context_recall", "id_based_context_precision", "non_llm_context_recall"):
            assert _in01(scores.get(key)), (name, key, scores)
    assert by["ragas/baseline"]["metrics"]["id_based_context_recall"] <= base["recall@5"] + 1e-6

    # prompt injection: measured three ways; filtering never makes it worse than the naive prompt
    inj = {v: by[f"injection/{v}"]["metrics"] for v in ("naive", "defended_prompt", "defended_prompt+filter")}
    for v, m in inj.items():
        assert _in01(m["attack_success_rate"]) and _in01(m["answer_accuracy"]) and m["n"] > 0, v
    assert inj["defended_prompt+filter"]["attack_success_rate"] <= inj["naive"]["attack_success_rate"]

    assert (run_dir / "plots" / "03_ablation.png").is_file()


def _check_confirmation(by, best, run_dir):
    """The combined pipeline and the baseline again on fresh test questions, none of the ablation's."""
    from labsutil import ledger

    if not best["params"]["confirm_n"] or not best["params"]["components"]:
        assert not any(v.startswith("confirm/") for v in by), sorted(by)
        return
    ablation_qids = {a["qid"] for a in ledger.read_answers(run_dir, "03", "baseline")}
    fresh = [a["qid"] for a in ledger.read_answers(run_dir, "03", "confirm/baseline")]
    assert fresh and len(fresh) <= best["params"]["confirm_n"] and not set(fresh) & ablation_qids
    assert [a["qid"] for a in ledger.read_answers(run_dir, "03", "confirm/best_combined")] == fresh
    for name in ("baseline", "best_combined"):
        m = by[f"confirm/{name}"]["metrics"]
        assert m["n"] == len(fresh) and m["ci_low"] <= m["answer_accuracy"] <= m["ci_high"], (name, m)

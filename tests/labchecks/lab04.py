"""Lab 04 (knowledge-graph RAG): assertions on the ledger rows the notebook wrote."""
from labchecks import assert_accuracies_have_intervals


RATES = ("recall@1", "recall@5", "all_recall@5", "recall@10", "all_recall@10", "mrr", "answer_accuracy", "coverage",
         "linked_share", "linked_all_recall@5", "linked_multi_hop_all_recall", "precision", "recall", "f1")


def _in01(value):
    return value is not None and 0.0 <= value <= 1.0


def check(rows, run_dir):
    assert_accuracies_have_intervals(rows)
    by = {r["variant"]: r for r in rows}
    params = next(iter(by.values()))["params"]
    wanted = [t.strip() for t in params["question_types"].split(",") if t.strip()]
    types = sorted({v.split("/", 1)[1] for v in by if v.startswith("vector/")})
    assert types and set(types) <= set(wanted), (types, wanted)

    # one row per mode and question type, every rate in [0, 1]
    for t in types:
        for mode in ("vector", "graph_local", "graph_ppr", "graph_hybrid", "graph_global"):
            m = by[f"{mode}/{t}"]["metrics"]
            assert m["n_questions"] > 0, (mode, t)
            assert m["recall@1"] <= m["recall@5"] <= m["recall@10"] and m["all_recall@5"] <= m["recall@5"], (mode, t, m)
        assert by[f"vector/{t}"]["metrics"]["n"] > 0
    for variant, row in by.items():
        for key in RATES:
            if key in row["metrics"] and not key.startswith("f1_"):
                assert _in01(row["metrics"][key]), (variant, key, row["metrics"][key])
        if row["metrics"].get("n"):
            assert row["cost"]["latency_p50_s"] is not None, variant

    # answers: every mode of the plan answered its types; graph queries report their coverage
    for mode, plan in (("graph_ppr", ("single_hop", "multi_hop", "comparison", "aggregation")),
                       ("graph_global", ("global",)), ("graph_query", ("aggregation",))):
        for t in set(plan) & set(types):
            assert by[f"{mode}/{t}"]["metrics"]["n"] > 0, (mode, t)
    if "aggregation" in types:
        assert "coverage" in by["graph_query/aggregation"]["metrics"]
        assert by["graph_query/aggregation"]["cost"]["tokens_out"] <= by["vector/aggregation"]["cost"]["tokens_out"]

    # extraction quality rows
    assert "extraction/rule_based" in by
    gold = "extraction/gold" in by
    if gold:
        assert by["extraction/gold"]["metrics"]["f1"] == 1.0
        assert by["extraction/rule_based"]["metrics"]["f1"] >= 0.8, by["extraction/rule_based"]["metrics"]["f1"]
        if params["llm_extract_docs"]:
            llm = by["extraction/llm"]
            assert llm["cost"]["tokens_out"] > 0 and llm["metrics"]["n_docs"] == params["llm_extract_docs"]

    # the graph beats vector RAG on multi-hop retrieval; with gold triples it reaches every gold document
    if "multi_hop" in types:
        vec = by["vector/multi_hop"]["metrics"]["all_recall@5"]
        best = max(by[f"{m}/multi_hop"]["metrics"]["all_recall@5"] for m in ("graph_local", "graph_ppr", "graph_hybrid"))
        assert best >= vec, (best, vec)
        if gold:  # with gold triples, the walk from the linked entities finds (nearly) every gold document
            g = by["graph_ppr@gold/multi_hop"]["metrics"]
            assert g["n_linked"] > 0 and g["reachable_3_hops"] == 1.0, g
            assert g["linked_multi_hop_all_recall"] >= 0.9, g  # in the top 10 of the ranking

    for plot in ("04_by_question_type.png", "04_neighbourhood.png", "04_communities.png"):
        assert (run_dir / "plots" / plot).is_file(), plot

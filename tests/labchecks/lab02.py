"""Lab 02 (RAG foundations): assertions on the ledger rows the notebook wrote."""
from labchecks import assert_accuracies_have_intervals


def _ints(text):
    return [int(x) for x in str(text).replace(" ", "").split(",") if x]


def check(rows, run_dir):
    assert_accuracies_have_intervals(rows)
    by = {r["variant"]: r for r in rows}
    params = by["closed_book"]["params"]
    ks = _ints(params["k_values"])
    sizes = _ints(params["sweep_chunk_sizes"])
    expected = {"retrieval_dense", "closed_book", "langchain_chain", *[f"rag_k{k}" for k in ks],
                *[f"chunk_size_{s}" for s in sizes]}
    assert expected <= set(by), f"missing variants: {sorted(expected - set(by))}"

    # retrieval metrics are in range and behave like metrics
    m = by["retrieval_dense"]["metrics"]
    assert m["n_questions"] > 0
    for key in ("recall@1", "recall@3", "recall@5", "recall@10", "mrr", "ndcg@5", "all_recall@5"):
        assert 0.0 <= m[key] <= 1.0, (key, m[key])
    assert m["recall@1"] <= m["recall@3"] <= m["recall@5"] <= m["recall@10"]
    assert m["all_recall@5"] <= m["recall@5"]
    assert m["recall@1"] <= m["mrr"] <= 1.0
    assert m["recall@5"] >= 0.5, "dense retrieval finds fewer than half the gold documents in the top 5"
    if "recall@5_single_hop" in m:
        assert m["recall@5_single_hop"] >= 0.7, m

    # RAG rows at least as good as closed book, the best one above it (a smoke sample of 8 can leave k = 1 at 0)
    cb = by["closed_book"]["metrics"]
    best = max(by[f"rag_k{k}"]["metrics"]["answer_accuracy"] for k in ks)
    assert best > cb["answer_accuracy"], ("no k beats closed book", best, cb["answer_accuracy"])
    for k in ks:
        rag = by[f"rag_k{k}"]["metrics"]
        assert rag["n"] == cb["n"] and rag["k"] == k
        assert rag["answer_accuracy"] >= cb["answer_accuracy"], (k, rag["answer_accuracy"], cb["answer_accuracy"])
        assert 0.0 <= rag["context_recall"] <= 1.0
        for key in ("citation_rate", "citation_accuracy", "citation_precision"):
            assert 0.0 <= rag[key] <= 1.0
    if "acc_single_hop" in cb:
        best = max(by[f"rag_k{k}"]["metrics"]["acc_single_hop"] for k in ks)
        assert best - cb["acc_single_hop"] >= 0.2, (best, cb["acc_single_hop"])

    # more chunks cost more prompt tokens; every answer row has a cost
    tokens = [by[f"rag_k{k}"]["cost"]["tokens_in"] for k in sorted(ks)]
    assert by["closed_book"]["cost"]["tokens_in"] < tokens[0]
    assert tokens == sorted(tokens) and tokens[0] < tokens[-1]
    for k in ks:
        assert by[f"rag_k{k}"]["cost"]["latency_p50_s"] > 0

    # LangChain retrieves what labsutil retrieves
    assert by["langchain_chain"]["metrics"]["same_chunks"] == 1.0

    # chunk-size sweep
    sweep = [by[f"chunk_size_{s}"]["metrics"] for s in sorted(sizes)]
    for s in sweep:
        assert 0.0 <= s["recall@5"] <= 1.0 and 0.0 <= s["answer_accuracy"] <= 1.0
    assert [s["n_chunks"] for s in sweep] == sorted((s["n_chunks"] for s in sweep), reverse=True)

    for plot in ("02_closed_book_vs_rag.png", *(["02_chunk_size_sweep.png"] if sizes else [])):
        assert (run_dir / "plots" / plot).is_file(), plot

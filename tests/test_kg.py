"""labsutil.graph (extract, kg, graphrag) on tiny inline data (no model: a hash embedder and a scripted fake LLM)."""
from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest

from labsutil import ledger
from labsutil.graph import extract as X, graphrag, kg
from labsutil.rag import retrieval as R
from labsutil.data import Document, QAItem, Triple
from labsutil.llm import Generation

from test_rag import FakeLLM
from test_retrieval import HashEmbedder

PROFILE = Document("company-01", "Company profile: Acme Corp",
                   "Acme Corp\n\nAcme Corp is a packaging company; it operates in the packaging industry. "
                   "The headquarters of Acme Corp are in Lisbon, Portugal. The company was founded in 1990. "
                   "The parent company of Acme Corp is Zen Holdings. The CEO of Acme Corp is Ana Silva. "
                   "The General Counsel of Acme Corp is Rui Costa.\n", {"kind": "company_profile"})
AGREEMENT = Document("agreement-001", "Supply Agreement between Acme Corp and Beta Works",
                     "SUPPLY AGREEMENT\n\nThis Supply Agreement is made on 3 May 2021 (the \"Effective Date\") between "
                     "Acme Corp of Lisbon (\"Supplier\") and Beta Works of Porto (\"Buyer\").\n\n"
                     "1. Term. The initial term of this Agreement is twenty-four (24) months, beginning on the "
                     "Effective Date.\n\n2. Termination. The termination notice period is ninety (90) days: a party "
                     "must notify the other.\n\n3. Governing Law. This Agreement is governed by the laws of the "
                     "Netherlands.\n\n4. Liability. The liability cap is EUR 750,000: in no event shall liability "
                     "exceed this amount.\n\nSigned on behalf of Acme Corp by Ana Silva (Chief Executive Officer).\n"
                     "Signed on behalf of Beta Works by Eva Berg (General Counsel).\n", {"kind": "agreement"})
AMENDMENT = Document("amendment-01", "Amendment No. 1 to the Supply Agreement between Acme Corp and Beta Works",
                     "AMENDMENT No. 1 TO THE SUPPLY AGREEMENT\n\nThis Amendment No. 1 is made on June 1, 2023 between "
                     "Acme Corp and Beta Works and amends the Supply Agreement between them dated 3 May 2021 (the "
                     "\"Agreement\").\n\n1. Amendment. The governing law of the Agreement is changed: the Agreement "
                     "is now governed by the laws of Spain.\n", {"kind": "amendment"})
CORPUS = [PROFILE, AGREEMENT, AMENDMENT]
AG = "Supply Agreement between Acme Corp and Beta Works"


def T(h, r, t, d):
    return Triple(h, r, t, d)


# --------------------------------------------------------------------------- extraction

def test_canonical_values():
    assert X.canonical_value("ninety (90) days") == "90 days"
    assert X.canonical_value("one hundred twenty (120) days") == "120 days"
    assert X.canonical_value("24 months") == "2 years" and X.canonical_value("18 months") == "18 months"
    assert X.canonical_value("1 years") == "1 year" and X.canonical_value("three years") == "3 years"
    for text in ("3 May 2021", "May 3, 2021", "the 3rd day of May, 2021", "2021-05-03"):
        assert X.canonical_value(text) == "2021-05-03", text
    assert X.canonical_value("EUR 750000") == "EUR 750,000"
    assert X.canonical_value("the Netherlands") == "Netherlands" and X.canonical_value("Acme Corp.") == "Acme Corp"


def test_rule_extract_reads_the_templates():
    got = {(t.head, t.relation, t.tail, t.doc_id) for t in X.rule_extract(CORPUS)}
    expected = {
        ("Acme Corp", "industry", "packaging", "company-01"), ("Acme Corp", "headquartered_in", "Lisbon", "company-01"),
        ("Lisbon", "located_in", "Portugal", "company-01"), ("Acme Corp", "founded_in", "1990", "company-01"),
        ("Acme Corp", "subsidiary_of", "Zen Holdings", "company-01"), ("Ana Silva", "ceo_of", "Acme Corp", "company-01"),
        ("Rui Costa", "officer_of", "Acme Corp", "company-01"),
        ("Acme Corp", "party_to", AG, "agreement-001"), ("Beta Works", "party_to", AG, "agreement-001"),
        (AG, "agreement_type", "Supply Agreement", "agreement-001"), (AG, "effective_date", "2021-05-03", "agreement-001"),
        (AG, "initial_term", "2 years", "agreement-001"), (AG, "termination_notice", "90 days", "agreement-001"),
        (AG, "governed_by", "Netherlands", "agreement-001"), (AG, "liability_cap", "EUR 750,000", "agreement-001"),
        ("Ana Silva", "signatory_of", AG, "agreement-001"), ("Eva Berg", "signatory_of", AG, "agreement-001"),
        ("Amendment No. 1 to the " + AG, "amends", AG, "amendment-01"),
        ("Amendment No. 1 to the " + AG, "effective_date", "2023-06-01", "amendment-01"),
        (AG, "governed_by", "Spain", "amendment-01"),
    }
    assert got == expected, (got - expected, expected - got)
    assert X.rule_extract([Document("x", "Memo", "Nothing in a template here.")]) == []


def test_score_triples_hand_computed():
    gold = [T("a", "r", "b", "d1"), T("a", "r", "c", "d1"), T("a", "s", "b", "d1"), T("e", "s", "f", "d2")]
    pred = [T("a", "r", "b", "d1"), T("A", "r", "the c", "d1"), T("a", "s", "x", "d1"), T("a", "r", "b", "d2")]
    s = X.score_triples(pred, gold)
    # matches: (a r b d1), (a r c d1) after normalisation -> tp 2, fp 2, fn 2
    assert (s["precision"], s["recall"], s["f1"]) == (0.5, 0.5, 0.5)
    assert s["per_relation"]["r"] == {"precision": round(2 / 3, 4), "recall": 1.0, "f1": 0.8, "n_gold": 2}
    assert s["per_relation"]["s"]["f1"] == 0.0 and s["per_relation"]["s"]["n_gold"] == 2
    without_doc = X.score_triples(pred, gold, with_doc=False)
    assert without_doc["precision"] == round(2 / 3, 4)  # (a r b) counted once as a set
    only_d2 = X.score_triples(pred, gold, doc_ids=["d2"])
    assert (only_d2["precision"], only_d2["recall"]) == (0.0, 0.0)
    assert X.score_triples(gold, gold)["f1"] == 1.0


def test_parse_triples_validates():
    report = X.ExtractionReport(docs=["company-01"])
    text = ("Acme Corp | headquartered_in | Lisbon\n"
            "- Ana Silva | ceo of | Acme Corp\n"  # relation written with a space: normalised
            "Acme Corp | founded_in | 1990\n"
            "Norvale Foods | headquartered_in | Ghent\n"  # not in the document
            "Acme Corp | revenue | 3 billion\n"  # unknown relation
            "just some words\n\n")
    triples = X.parse_triples(text, PROFILE, X.RELATIONS, report)
    assert [(t.head, t.relation, t.tail) for t in triples] == [
        ("Acme Corp", "headquartered_in", "Lisbon"), ("Ana Silva", "ceo_of", "Acme Corp"), ("Acme Corp", "founded_in", "1990")]
    assert (report.lines, report.parsed, report.known_relation, report.grounded) == (6, 5, 4, 3)
    assert report.rejected == {"head or tail not in the document": 1, "unknown relation": 1,
                               "not head | relation | tail": 1}
    # a value written differently from the text still counts as occurring in it
    assert X.parse_triples(f"{AG} | initial_term | 2 years", AGREEMENT, X.RELATIONS)[0].tail == "2 years"


def test_llm_extract_with_a_fake_model():
    llm = FakeLLM(lambda prompt: "Acme Corp | subsidiary_of | Zen Holdings\nAcme Corp | industry | packaging")
    llm.generate = lambda prompts, max_new_tokens=32, batch_size=None, **kw: [
        Generation("Acme Corp | subsidiary_of | Zen Holdings\nAcme Corp | industry | packaging", 100, 20, 0.5, "stop")
        for _ in prompts]
    triples, report = X.llm_extract(llm, [PROFILE], max_new_tokens=32)
    assert {t.relation for t in triples} == {"subsidiary_of", "industry"}
    assert report.metrics()["valid_triples_per_doc"] == 2.0 and report.tokens_out == 20
    messages = X.extraction_messages(PROFILE, ["industry"], shots=1)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert "Norvale Foods | headquartered_in | Ghent" in messages[2]["content"]  # the profile example for a profile
    assert "party_to" in X.extraction_messages(AGREEMENT, ["industry"], shots=1)[2]["content"]


def test_sample_docs_mixes_kinds():
    docs = X.sample_docs(CORPUS + [Document("company-02", "Company profile: B", "x", {"kind": "company_profile"})], 3)
    assert sorted(d.metadata["kind"] for d in docs) == ["agreement", "amendment", "company_profile"]


# --------------------------------------------------------------------------- graph

@pytest.fixture
def graph():
    return kg.KnowledgeGraph(X.rule_extract(CORPUS) + [
        T("Zen Holdings", "industry", "investment holding", "company-02"),
        T("Beta Works", "subsidiary_of", "Zen Holdings", "company-03"),
        T("Eva Berg", "officer_of", "Beta Works", "company-03"),
    ])


def test_graph_keeps_provenance_and_current_values(graph):
    assert graph.docs_of(AG) == {"agreement-001", "amendment-01"}
    assert ("Ana Silva", "ceo_of", "Acme Corp", "company-01") in graph.edges_of("Acme Corp")
    assert "Acme Corp" in graph.entities and "Portugal" not in graph.entities and "90 days" not in graph.entities
    assert graph.current_value(AG, "governed_by") == "Spain"  # the amendment's value wins
    assert graph.current_value(AG, "termination_notice") == "90 days"
    assert sorted(graph.subjects("subsidiary_of", "Zen Holdings")) == ["Acme Corp", "Beta Works"]
    walk = graph.walk_graph()
    assert "2021-05-03" not in walk and "Netherlands" not in walk and "Netherlands" in graph.walk_graph(values=True)


def test_entity_linker_exact_and_fuzzy(graph):
    linker = kg.EntityLinker(graph, None, methods=("exact", "fuzzy"))
    links = linker.link("Who is the CEO of the parent company of Acme Corp?")
    assert [(l.node, l.method) for l in links] == [("Acme Corp", "exact")]
    fuzzy = linker.link("Who signed for Beta Workss?")
    assert [(l.node, l.method) for l in fuzzy] == [("Beta Works", "fuzzy")]
    assert linker.link("What is the weather like?") == []
    # the longest name wins over the names it contains
    assert [l.node for l in linker.link(f"What is the current governing law of the {AG}?")] == [AG]


def test_entity_linker_embedding_match(graph):
    linker = kg.EntityLinker(graph, HashEmbedder(), methods=("embedding",), embed_cutoff=0.6)
    links = linker.link("Who owns Holdings Zen?")  # same words, other order: no exact or fuzzy match
    assert [(l.node, l.method) for l in links] == [("Zen Holdings", "embedding")]


def test_ppr_matches_the_closed_form():
    g = kg.KnowledgeGraph([T("a", "r", "b", "d1"), T("b", "r", "c", "d2"), T("c", "r", "a", "d3"),
                           T("c", "r", "d", "d4"), T("d", "x", "e", "d5")])
    scores = kg.ppr_scores(g, ["a"], damping=0.5, values=True)
    walk = g.walk_graph(values=True)
    nodes = sorted(walk)
    A = nx.to_numpy_array(walk, nodelist=nodes, weight=None)
    W = A / A.sum(axis=0, keepdims=True)  # column-stochastic transitions
    e = np.array([1.0 if n == "a" else 0.0 for n in nodes])
    expected = np.linalg.solve(np.eye(len(nodes)) - 0.5 * W, 0.5 * e)  # p = (1 - d) e + d W p
    for n, v in zip(nodes, expected / expected.sum()):
        assert scores[n] == pytest.approx(v, abs=1e-6), n
    # a heavier relation pulls the walk: weighting x up raises e's share
    heavier = kg.ppr_scores(g, ["a"], {"r": 0.1, "x": 1.0}, values=True)
    assert heavier["e"] > scores["e"]
    assert kg.ppr_scores(g, ["nowhere"]) == {}


def test_bridge_nodes_restart_the_walk_where_two_seeds_meet():
    # "the Supply Agreement that Acme signed": the agreement joined to both named seeds becomes a restart node
    g = kg.KnowledgeGraph([T("ag1", "agreement_type", "Supply Agreement", "d1"), T("Acme", "party_to", "ag1", "d1"),
                           T("Beta", "party_to", "ag1", "d1"), T("ag2", "agreement_type", "Supply Agreement", "d2"),
                           T("Acme", "party_to", "ag3", "d3"), T("Beta", "ceo_of", "Eva", "d4")])
    walk = g.walk_graph(values=True)
    assert kg.bridge_nodes(walk, ["Supply Agreement", "Acme"], {"Supply Agreement": 0.5, "Acme": 0.25}) == {"ag1": 0.75}
    assert kg.bridge_nodes(walk, ["Acme"], {"Acme": 1.0}) == {}
    with_bridge = kg.ppr_scores(g, ["Supply Agreement", "Acme"], values=True)
    assert with_bridge["ag1"] > max(with_bridge["ag2"], with_bridge["ag3"])
    assert with_bridge["Beta"] > with_bridge["ag3"]  # the counterparty, one hop past the bridge


def test_docs_from_node_scores_hand_computed():
    g = kg.KnowledgeGraph([T("a", "r", "b", "d1"), T("a", "s", "5 days", "d2"), T("b", "r", "c", "d1")])
    ranked = dict(kg.docs_from_node_scores(g, {"a": 0.5, "b": 0.3, "c": 0.2}, {"r": 1.0, "s": 2.0}))
    # d1: (a r b) 0.8 * 1 + (b r c) 0.5 * 1 = 1.3; d2: (a s 5 days) 0.5 * 2 = 1.0
    assert ranked == {"d1": pytest.approx(1.3), "d2": pytest.approx(1.0)}


def test_relation_weights():
    qv = np.array([[1.0, 0.0]], dtype=np.float32)
    w = kg.relation_weights(qv, {"near": np.array([1.0, 0.0]), "far": np.array([0.0, 1.0])}, strength=2.0)[0]
    assert w["near"] == 1.0 and w["far"] == pytest.approx(math.exp(-2.0))


def test_local_docs_nearest_first(graph):
    docs = kg.local_docs(graph, ["Acme Corp"], hops=1, k=None)
    assert set(docs) == {"company-01", "agreement-001"}
    assert docs[0] == "company-01"  # more edges of the seed
    two = kg.local_docs(graph, ["Acme Corp"], hops=2, k=None)
    assert two[:2] == docs and {"company-02", "company-03", "amendment-01"} <= set(two)
    assert kg.reachable_docs(graph, ["Acme Corp"], hops=2) == set(two)


def test_structured_queries(graph):
    assert kg.answer_structured(graph, "How many agreements is Acme Corp a party to?") == ("1", "count_party")
    assert kg.answer_structured(graph, "How many direct subsidiaries does Zen Holdings have?") == ("2", "count_subsidiaries")
    assert kg.answer_structured(graph, "Which companies are direct subsidiaries of Zen Holdings?") == \
        ("Acme Corp and Beta Works", "list_subsidiaries")
    assert kg.answer_structured(graph, "How many agreements did Ana Silva sign?") == ("1", "count_signed")
    assert kg.answer_structured(graph, "How many companies are headquartered in Portugal?") == ("1", "count_country")
    assert kg.answer_structured(graph, "How many agreements have Acme Corp and Beta Works signed with each other?") \
        == ("1", "count_pair")
    # amendments apply: the agreement is now under Spanish law
    assert kg.answer_structured(graph, "How many Supply Agreements are governed by the laws of Spain?")[0] == "1"
    assert kg.answer_structured(graph, "How many Supply Agreements are governed by the laws of the Netherlands?")[0] == "0"
    assert kg.answer_structured(graph, "Why is the sky blue?") == (None, None)


def test_communities_split_two_cliques():
    left = [T(f"L{i}", "r", f"L{j}", "d1") for i in range(4) for j in range(4) if i != j]
    right = [T(f"R{i}", "r", f"R{j}", "d2") for i in range(4) for j in range(4) if i != j]
    g = kg.KnowledgeGraph(left + right + [T("L0", "r", "R0", "d3"), T("L1", "law", "Spain", "d1")])
    parts, method = kg.detect_communities(g, seed=0)
    assert method == "louvain" and sorted(map(sorted, parts)) == [[f"L{i}" for i in range(4)], [f"R{i}" for i in range(4)]]
    summaries = kg.summarize_communities(g, parts)
    left_summary = next(c for c in summaries if "L0" in c.nodes)
    assert "law: Spain (1)." in left_summary.summary and left_summary.docs[0] == "d1"
    assert kg.detect_communities(g, method="leiden")[1] in ("leiden", "louvain")  # Louvain when igraph is absent


def test_communities_do_not_depend_on_the_hash_seed():
    """A set's iteration order changes with PYTHONHASHSEED (every new process): communities and their summaries
    must not, or two runs of lab 04 with the same seed rank different communities for global search."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("from labsutil.data import load_dataset; from labsutil.graph import kg; "
            "g = kg.KnowledgeGraph(load_dataset('data/contracts').triples); "
            "print([(c.nodes[:3], c.docs[:3], c.summary) for c in kg.summarize_communities(g, "
            "kg.detect_communities(g, seed=0)[0])])")
    root = Path(__file__).resolve().parents[1]
    outputs = {subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": str(hash_seed)}).stdout for hash_seed in (1, 2)}
    assert len(outputs) == 1


# --------------------------------------------------------------------------- graphrag

def q(qid, question, answer, doc_ids, qtype):
    return QAItem(qid, question, answer, (), tuple(doc_ids), qtype, "test")


QS = [q("q1", "Who is the CEO of the parent company of Beta Works?", "Zen CEO", ["company-03", "company-02"], "multi_hop"),
      q("q2", "How many direct subsidiaries does Zen Holdings have?", "2", ["company-01", "company-03"], "aggregation"),
      q("q3", "How many employees does Acme Corp have?", "unknown", ["company-01"], "aggregation"),
      q("q4", "Which governing law is most common?", "Spain", ["agreement-001"], "global")]


@pytest.fixture
def grag(graph):
    index = R.DenseIndex.build(R.chunk_corpus(CORPUS, chunk_size=200, chunk_overlap=0), HashEmbedder(), embedder_name="hash")
    return graphrag.GraphRAG(graph, index, link_methods=("exact", "fuzzy"))


def test_graph_rag_ranks_and_builds_contexts(grag):
    prep = grag.prepare(QS)
    assert prep.seeds[0] == ["Beta Works"] and prep.subset([QS[3], QS[0]]).seeds[1] == ["Beta Works"]
    for mode in graphrag.RETRIEVAL_MODES:
        ranked = grag.rank(mode, prep, k=5)
        assert len(ranked) == len(QS) and all(len(r) == len(set(r)) <= 5 for r in ranked), mode
    ppr = grag.rank("graph_ppr", prep)[0]
    assert "company-03" in ppr[:2]
    ctx = grag.contexts("graph_ppr", prep, grag.rank("graph_ppr", prep), k=2)[0]
    assert ctx[0].doc_id == graphrag.FACTS_ID and "|" in ctx[0].text and len(ctx) >= 2  # docs outside the index add no chunk
    assert all(c.doc_id != graphrag.FACTS_ID for c in grag.contexts("vector", prep, grag.rank("vector", prep), k=2)[0])
    assert graphrag.linked_all_recall(QS, prep, [["company-03", "company-02"]] * 4, k=5) == (1.0, 1)
    assert graphrag.link_stats(prep)["linked_share"] == 0.75


def test_answers_global_and_structured(grag, cfg):
    llm = FakeLLM(lambda p: "Spain [agreement-001]" if "Partial answers" in p else "partial")
    prep = grag.prepare(QS)
    glob = graphrag.global_answer(grag, llm, [QS[3]], prep.subset([QS[3]]), max_new_tokens=8)
    assert glob[0].correct and glob[0].tokens_in > 0
    assert llm.calls == min(grag.global_communities, len(grag.communities)) + 1  # map calls + one reduce
    vec = graphrag.answer(FakeLLM(lambda p: "2"), QS[1:3], [[], []], [[], []])
    recs, info = graphrag.structured_answers(grag.graph, QS[1:3], {r.qid: r for r in vec})
    assert info["coverage"] == 0.5 and info["templates"] == {"count_subsidiaries": 1}
    assert recs[0].correct and recs[0].tokens_in == 0 and recs[1].extra["template"] is None
    retrieval_res = {"vector": graphrag.retrieval_by_type(QS, [["company-01"]] * 4)}
    rows = graphrag.record_rows(cfg, retrieval_res, {"vector": vec, "graph_query": recs},
                              extra={("graph_query", "aggregation"): {"coverage": 0.5}})
    by = {r["variant"]: r for r in rows}
    assert by["vector/aggregation"]["metrics"]["n"] == 2 and "all_recall@5" in by["vector/multi_hop"]["metrics"]
    assert by["graph_query/aggregation"]["metrics"]["coverage"] == 0.5
    table = graphrag.results_frame(ledger.read(cfg.run_dir, lab=cfg.lab))
    assert table.loc["aggregation", ("answer_accuracy", "graph_query")] == 0.5  # the fallback answer is wrong


def test_takeaways_follow_the_numbers():
    def row(variant, **m):
        return {"variant": variant, "metrics": m}

    rows = [row("vector/multi_hop", all_recall_5=0), row("vector/single_hop", **{"all_recall@5": 1.0}),
            row("vector/multi_hop", **{"all_recall@5": 0.3}), row("graph_ppr/multi_hop", **{"all_recall@5": 0.8}),
            row("graph_ppr/single_hop", **{"all_recall@5": 1.0}),
            row("extraction/llm", f1=0.05, valid_triples_per_doc=1.0, gold_triples_per_doc=10.0),
            row("extraction/rule_based", f1=1.0)]
    text = graphrag.takeaways(rows)
    assert "reproduces the multi-hop gain" in text and "+50 points" in text
    assert "LightRAG" in text and "reproduces it" in text and "no global questions" in text
    rows[3] = row("graph_ppr/multi_hop", **{"all_recall@5": 0.25})
    assert "does not reproduce" in graphrag.takeaways(rows)


def test_graphrag_global_bullet_orders_only_what_the_intervals_separate():
    from labsutil import stats

    def rows(graph, vector, n):
        return [{"variant": name, "metrics": {"answer_accuracy": k / n, "n": n,
                                             **dict(zip(("ci_low", "ci_high"), stats.wilson(k, n)))}}
                for name, k in (("graph_global/global", graph), ("vector/global", vector))]

    small = graphrag.takeaways(rows(1, 2, 9))
    assert "11% [2%, 43%] (n = 9) cannot be told apart, at this n, from vector RAG's 22% [6%, 55%] (n = 9)" in small
    assert "is lower than vector RAG's" in graphrag.takeaways(rows(10, 80, 100))
    assert "is higher than vector RAG's" in graphrag.takeaways(rows(80, 10, 100))


def test_hipporag_claim_is_decided_by_a_paired_comparison():
    """Per question, did each mode find all gold documents in its top 5? A small gain is undecided."""
    qs = [q(f"m{i}", "?", "x", ["a", "b"], "multi_hop") for i in range(10)]
    rankings = {"vector": [["a", "c"]] * 10, "graph_ppr": [["a", "b"]] * 3 + [["a", "c"]] * 7,
                "graph_local": [["c"]] * 10}
    comp = graphrag.multi_hop_retrieval_comparison(qs, rankings)
    assert (comp.b, comp.n, comp.diff) == ("graph_ppr", 10, 0.3)
    rows = [{"variant": "vector/multi_hop", "metrics": {"all_recall@5": 0.0}},
            {"variant": "graph_ppr/multi_hop", "metrics": {"all_recall@5": 0.3}}]
    text = graphrag.takeaways(rows, questions=qs, rankings=rankings)
    assert "cannot decide (at n = 10)" in text and "Paired on the same questions" in text
    big = [q(f"m{i}", "?", "x", ["a", "b"], "multi_hop") for i in range(60)]
    rankings = {"vector": [["a", "c"]] * 60, "graph_ppr": [["a", "b"]] * 40 + [["c"]] * 20}
    assert "Our run reproduces" in graphrag.takeaways(rows, questions=big, rankings=rankings)


def test_answer_by_mode_follows_the_plan(grag):
    llm = FakeLLM(lambda p: "2")
    records, extra = graphrag.answer_by_mode(llm, QS, grag=grag, index=grag.index, k=2, max_new_tokens=8, verbose=False)
    assert {m: len(r) for m, r in records.items()} == {"vector": 4, "graph_local": 1, "graph_ppr": 3,
                                                       "graph_hybrid": 1, "graph_global": 1, "graph_query": 2}
    assert extra == {("graph_query", "aggregation"): {"coverage": 0.5}}
    only_vector, none = graphrag.answer_by_mode(llm, QS, grag=None, index=grag.index, k=2, verbose=False)
    assert list(only_vector) == ["vector"] and none == {} and len(only_vector["vector"][0].retrieved) > 0

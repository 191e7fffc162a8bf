"""labsutil.rag.retrieval on tiny inputs: chunking, the pickle-free FAISS index, BM25, RRF against LangChain's
EnsembleRetriever, MMR, small-to-big, lost-in-the-middle against LongContextReorder, and the metrics
against hand-computed cases and scikit-learn's nDCG."""
from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from labsutil.rag import retrieval as R


class HashEmbedder:
    """A deterministic bag-of-words 'embedder' (no model): the same words give similar vectors."""

    dim = 64

    def encode(self, texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in R.bm25_tokenize(text):
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
            out[i] /= max(1e-9, np.linalg.norm(out[i]))
        return out


DOCS = [
    {"doc_id": "d1", "title": "Acme profile", "text": "Acme Corp is headquartered in Lisbon. Its CEO is Ana Silva."},
    {"doc_id": "d2", "title": "Beta profile", "text": "Beta Ltd was founded in 1999. Beta makes glass bottles."},
    {"doc_id": "d3", "title": "Supply Agreement between Acme Corp and Beta Ltd",
     "text": "The notice period is ninety (90) days. The governing law is the law of Portugal."},
]


@pytest.fixture
def index():
    return R.DenseIndex.build(R.chunk_corpus(DOCS, chunk_size=60, chunk_overlap=10), HashEmbedder(),
                              embedder_name="hash")


def test_chunks_respect_size_and_point_into_the_text():
    long_text = " ".join(f"word{i}" for i in range(200))
    chunks = R.chunk_corpus([{"doc_id": "x", "title": "T", "text": long_text}], chunk_size=100, chunk_overlap=20)
    assert len(chunks) > 5 and all(len(c.text) <= 100 for c in chunks)
    assert [c.chunk_id for c in chunks[:2]] == ["x#0", "x#1"]
    for c in chunks:
        assert long_text[c.start:c.start + len(c.text)] == c.text
    assert chunks[1].start < chunks[0].start + len(chunks[0].text)  # they overlap
    with pytest.raises(ValueError, match="chunk_overlap"):
        R.chunk_corpus(DOCS, chunk_size=50, chunk_overlap=50)


def test_split_sentences():
    assert R.split_sentences("One is here. Two (2) days apply.\nThree: yes") == [
        "One is here.", "Two (2) days apply.", "Three: yes"]


def test_dense_index_search_and_pickle_free_roundtrip(index, tmp_path):
    top = index.search(["Who is the CEO of Acme?"], k=2)[0]
    assert top[0].doc_id == "d1" and top[0].score >= top[1].score
    folder = index.save(tmp_path / "idx")
    assert sorted(p.name for p in folder.iterdir()) == ["chunks.json", "index.faiss", "meta.json"]
    loaded = R.DenseIndex.load(folder, HashEmbedder())
    assert [c.chunk_id for c in loaded.chunks] == [c.chunk_id for c in index.chunks]
    again = loaded.search(["Who is the CEO of Acme?"], k=2)[0]
    assert [h.chunk.chunk_id for h in again] == [h.chunk.chunk_id for h in top]
    np.testing.assert_allclose(loaded.vectors(), index.vectors())


def test_index_cache_key_changes_with_every_input():
    base = R.index_key("abc", 500, 50, "m")
    assert len({base, R.index_key("abd", 500, 50, "m"), R.index_key("abc", 400, 50, "m"),
                R.index_key("abc", 500, 0, "m"), R.index_key("abc", 500, 50, "n")}) == 5
    assert R.corpus_hash(DOCS) != R.corpus_hash(DOCS[:2])


def test_bm25_prefers_exact_terms():
    chunks = R.chunk_corpus(DOCS, chunk_size=200, chunk_overlap=0)
    hits = R.BM25Index(chunks).search(["notice period ninety days"], k=3)[0]
    assert hits[0].doc_id == "d3"
    assert R.bm25_tokenize("The CEO of Acme, Inc.") == ["ceo", "acme", "inc"]


def test_rrf_by_hand():
    fused = R.rrf([["a", "b", "c"], ["c", "a"]], k=60)
    scores = dict(fused)
    assert math.isclose(scores["a"], 1 / 61 + 1 / 62)
    assert math.isclose(scores["c"], 1 / 63 + 1 / 61)
    assert [x for x, _ in fused] == ["a", "c", "b"]


@pytest.mark.parametrize("weights", [None, [0.7, 0.3], [1.0, 1.0, 2.0]])
def test_rrf_matches_langchain_ensemble_retriever(weights):
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    lists = [["a", "b", "c", "d"], ["c", "e", "a"], ["e", "f", "b", "a"]]
    if weights is not None and len(weights) == 2:
        lists = lists[:2]

    class Fixed(BaseRetriever):
        ids: list[str]

        def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun):
            return [Document(page_content=f"text of {i}", metadata={"id": i}) for i in self.ids]

    ensemble = EnsembleRetriever(retrievers=[Fixed(ids=ids) for ids in lists],
                                 weights=weights or [1.0] * len(lists), c=60, id_key="id")
    expected = [d.metadata["id"] for d in ensemble.invoke("q")]
    assert [x for x, _ in R.rrf(lists, k=60, weights=weights)] == expected


def test_hybrid_retriever_fuses_dense_and_bm25(index):
    bm25 = R.BM25Index(index.chunks)
    hybrid = R.HybridRetriever([index, bm25], depth=5)
    hits = hybrid.search(["notice period of the agreement between Acme and Beta"], k=3)[0]
    assert hits[0].doc_id == "d3" and len(hits) == 3
    assert len({h.chunk.chunk_id for h in hits}) == 3


def test_small_to_big_returns_parents(index):
    children = R.child_chunks(index.chunks, max_chars=30)
    assert all(c.metadata["parent_id"] in index.by_id for c in children)
    child_index = R.DenseIndex.build(children, HashEmbedder())
    hits = R.SmallToBigRetriever(child_index, index.chunks).search(["governing law Portugal"], k=2)[0]
    assert hits[0].chunk in index.chunks and hits[0].doc_id == "d3"
    assert len({h.chunk.chunk_id for h in hits}) == len(hits)


@pytest.mark.parametrize("n", range(0, 8))
def test_reorder_matches_langchain_long_context_reorder(n):
    from langchain_community.document_transformers import LongContextReorder
    from langchain_core.documents import Document

    items = [f"doc{i}" for i in range(n)]
    expected = [d.page_content for d in LongContextReorder().transform_documents(
        [Document(page_content=x) for x in items])]
    assert R.reorder_lost_in_the_middle(items) == expected


def test_mmr_skips_a_duplicate():
    q = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    cands = np.array([[0.9, 0.1, 0.0], [0.9, 0.1, 0.0], [0.6, 0.0, 0.8]], dtype=np.float32)
    cands /= np.linalg.norm(cands, axis=1, keepdims=True)
    assert R.mmr(q, cands, k=2, lambda_mult=0.5) == [0, 2]
    assert R.mmr(q, cands, k=2, lambda_mult=1.0)[:1] == [0]


def test_metrics_hand_computed():
    ranked = ["x", "g1", "y", "g2"]
    gold = ["g1", "g2"]
    assert R.recall_at_k(ranked, gold, 1) == 0.0
    assert R.recall_at_k(ranked, gold, 2) == 0.5
    assert R.recall_at_k(ranked, gold, 4) == 1.0
    assert R.all_recall_at_k(ranked, gold, 2) == 0.0 and R.all_recall_at_k(ranked, gold, 4) == 1.0
    assert R.reciprocal_rank(ranked, gold) == 0.5
    assert R.reciprocal_rank(["x"], gold) == 0.0
    # DCG = 1/log2(3) + 1/log2(5); ideal = 1 + 1/log2(3)
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert math.isclose(R.ndcg_at_k(ranked, gold, 4), expected)
    assert math.isclose(R.ndcg_at_k(["g1", "x"], ["g1"], 5), 1.0)
    report = R.retrieval_metrics([ranked, ["g3", "z"]], [gold, ["g3"]], ks=(1, 2))
    assert report["recall@1"] == 0.5 and report["recall@2"] == 0.75 and report["mrr"] == 0.75
    assert report["n_questions"] == 2
    assert R.retrieval_metrics([["a"]], [[]]) == {"n_questions": 0}


@pytest.mark.parametrize("ranked, gold, k", [
    (["a", "b", "c", "d", "e"], ["c", "e"], 5),
    (["a", "b", "c", "d", "e"], ["a", "d"], 3),
    (["b", "a", "c"], ["a", "b", "c"], 2),
])
def test_ndcg_matches_sklearn(ranked, gold, k):
    from sklearn.metrics import ndcg_score

    # sklearn needs every item, gold ones included: scores descend along our ranking
    items = ranked + [g for g in gold if g not in ranked]
    y_true = np.array([[1.0 if i in gold else 0.0 for i in items]])
    y_score = np.array([[len(items) - r for r in range(len(items))]], dtype=float)
    assert math.isclose(R.ndcg_at_k(ranked, gold, k), ndcg_score(y_true, y_score, k=k))


def test_doc_ranking_deduplicates(index):
    hits = [R.Hit(R.Chunk("a#0", "a", "", "x"), 1.0), R.Hit(R.Chunk("a#1", "a", "", "y"), 0.9),
            R.Hit(R.Chunk("b#0", "b", "", "z"), 0.8)]
    assert R.doc_ranking(hits) == ["a", "b"]


def test_int_list():
    assert R.int_list("1, 3,5") == [1, 3, 5] and R.int_list("") == [] and R.int_list([2, 4]) == [2, 4]

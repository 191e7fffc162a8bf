"""Retrieval: chunking, a FAISS index persisted without pickle, BM25, fusion, MMR, small-to-big, metrics.

    chunks = retrieval.chunk_corpus(ds.corpus, chunk_size=500, chunk_overlap=50)
    dense = retrieval.load_or_build_index(ds.corpus, chunk_size=500, chunk_overlap=50, embedder="all-minilm-l6-v2")
    hits = dense.search(["Who is the CEO of Acme?"], k=5)[0]      # [Hit(chunk, score), ...]
    retrieval.doc_ranking(hits)                                    # ['co-001', 'news-03', ...]
    retrieval.retrieval_metrics([doc_ranking(h) for h in all_hits], [q.doc_ids for q in qs])

Every retriever has `search(queries, k) -> list[list[Hit]]`, so they compose: `HybridRetriever` fuses any
of them with reciprocal rank fusion, `SmallToBigRetriever` searches small pieces and returns their parents.
The index is saved as `index.faiss` (faiss.write_index) + `chunks.json` + `meta.json`: no pickle, so
loading an index never executes code (LangChain's FAISS.load_local needs allow_dangerous_deserialization).
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Protocol, Sequence

import numpy as np

from .. import paths
from ..paths import atomic_folder

INDEX_FORMAT = 1


def int_list(value: str | Sequence[int] | None) -> list[int]:
    """'1,3,5' (a notebook parameter) -> [1, 3, 5]; a list passes through; '' or None -> []."""
    if value is None:
        return []
    if isinstance(value, str):
        return [int(x) for x in value.replace(" ", "").split(",") if x]
    return [int(x) for x in value]


def str_list(value: str | Sequence[str] | None) -> list[str]:
    """'a, b' -> ['a', 'b']."""
    if value is None:
        return []
    if isinstance(value, str):
        return [x.strip() for x in value.split(",") if x.strip()]
    return list(value)


# --------------------------------------------------------------------------- chunks

@dataclass(frozen=True)
class Chunk:
    """A piece of one document. `chunk_id` is `<doc_id>#<n>`; `start` is its character offset in the text."""

    chunk_id: str
    doc_id: str
    title: str
    text: str
    start: int = 0
    metadata: dict = field(default_factory=dict, hash=False, compare=False)

    def embed_text(self, with_title: bool = True) -> str:
        """What is embedded and indexed: the title as a header gives every chunk its document's context."""
        return f"{self.title}\n{self.text}" if with_title and self.title else self.text


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id


def _doc_fields(doc: Any) -> tuple[str, str, str, dict]:
    """(doc_id, title, text, metadata) of a labsutil.data.Document, a dict or a LangChain Document."""
    if isinstance(doc, dict):
        return doc["doc_id"], doc.get("title", ""), doc["text"], dict(doc.get("metadata") or {})
    if hasattr(doc, "page_content"):  # langchain_core.documents.Document
        meta = dict(doc.metadata)
        return meta.get("doc_id") or str(doc.id), meta.get("title", ""), doc.page_content, meta
    return doc.doc_id, getattr(doc, "title", "") or "", doc.text, dict(getattr(doc, "metadata", None) or {})


def make_splitter(chunk_size: int = 500, chunk_overlap: int = 50):
    """LangChain's recursive splitter: paragraphs, then lines, then sentences, then words."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    if chunk_overlap >= chunk_size:
        raise ValueError(f"chunk_overlap ({chunk_overlap}) must be smaller than chunk_size ({chunk_size})")
    return RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap,
                                          separators=["\n\n", "\n", ". ", " ", ""], keep_separator="end",
                                          add_start_index=True, strip_whitespace=True)


def chunk_corpus(corpus: Iterable[Any], chunk_size: int = 500, chunk_overlap: int = 50) -> list[Chunk]:
    """Split every document into chunks of at most `chunk_size` characters overlapping by `chunk_overlap`."""
    splitter = make_splitter(chunk_size, chunk_overlap)
    chunks: list[Chunk] = []
    for doc in corpus:
        doc_id, title, text, meta = _doc_fields(doc)
        pieces = splitter.create_documents([text])
        for n, piece in enumerate(pieces):
            chunks.append(Chunk(f"{doc_id}#{n}", doc_id, title, piece.page_content,
                                int(piece.metadata.get("start_index", 0)), meta))
    return chunks


_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+(?=[A-Z0-9\"'(\[])|\n+")


def split_sentences(text: str) -> list[str]:
    """A light sentence splitter (no NLTK download): sentence ends followed by a capital, and line breaks."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def corpus_hash(corpus: Iterable[Any]) -> str:
    """A short content hash of the corpus: part of every cache key, so edited data never hits a stale cache."""
    digest = hashlib.sha256()
    for doc in corpus:
        doc_id, title, text, _ = _doc_fields(doc)
        digest.update(json.dumps([doc_id, title, text]).encode())
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- dense index

class Retriever(Protocol):
    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]: ...


def embed(embedder, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length float32 vectors (so inner product is cosine similarity)."""
    vectors = embedder.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                              convert_to_numpy=True, show_progress_bar=False)
    return np.ascontiguousarray(vectors, dtype=np.float32)


class DenseIndex:
    """Chunks + their embeddings in a FAISS inner-product index (exact search)."""

    def __init__(self, chunks: list[Chunk], index, embedder, *, embedder_name: str = "", with_title: bool = True,
                 info: dict | None = None):
        self.chunks = chunks
        self.index = index
        self.embedder = embedder
        self.embedder_name = embedder_name
        self.with_title = with_title
        self.info = dict(info or {})
        self.by_id = {c.chunk_id: i for i, c in enumerate(chunks)}

    @classmethod
    def build(cls, chunks: list[Chunk], embedder, *, embedder_name: str = "", with_title: bool = True,
              info: dict | None = None) -> "DenseIndex":
        import faiss

        start = time.perf_counter()
        vectors = embed(embedder, [c.embed_text(with_title) for c in chunks])
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        info = {**(info or {}), "embed_seconds": round(time.perf_counter() - start, 2), "n_chunks": len(chunks)}
        return cls(chunks, index, embedder, embedder_name=embedder_name, with_title=with_title, info=info)

    def __len__(self) -> int:
        return len(self.chunks)

    @property
    def dim(self) -> int:
        return self.index.d

    def vectors(self, rows: Sequence[int] | None = None) -> np.ndarray:
        """Stored chunk vectors (a flat index keeps them; no need to re-embed)."""
        if rows is None:
            return self.index.reconstruct_n(0, self.index.ntotal)
        return np.stack([self.index.reconstruct(int(r)) for r in rows]) if len(rows) else np.zeros((0, self.dim), np.float32)

    def rows_of(self, doc_ids: Iterable[str]) -> list[int]:
        """Index rows of every chunk of the given documents."""
        if not hasattr(self, "_doc_rows"):
            self._doc_rows: dict[str, list[int]] = {}
            for i, c in enumerate(self.chunks):
                self._doc_rows.setdefault(c.doc_id, []).append(i)
        return [r for d in doc_ids for r in self._doc_rows.get(d, [])]

    def search_within(self, query_vector: np.ndarray, doc_ids: Iterable[str], k: int) -> list[Hit]:
        """Exact search restricted to the chunks of some documents (metadata filtering)."""
        rows = self.rows_of(doc_ids)
        if not rows:
            return []
        scores = self.vectors(rows) @ np.asarray(query_vector, dtype=np.float32)
        order = np.argsort(-scores, kind="stable")[:k]
        return [Hit(self.chunks[rows[i]], float(scores[i])) for i in order]

    def embed_queries(self, queries: Sequence[str]) -> np.ndarray:
        return embed(self.embedder, queries)

    def search_vectors(self, vectors: np.ndarray, k: int) -> list[list[Hit]]:
        k = min(k, len(self.chunks))
        scores, rows = self.index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)
        return [[Hit(self.chunks[r], float(s)) for s, r in zip(srow, rrow) if r >= 0]
                for srow, rrow in zip(scores, rows)]

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        return self.search_vectors(self.embed_queries(queries), k)

    # persistence: FAISS binary + JSON, never pickle
    def save(self, folder: str | Path) -> Path:
        import faiss

        folder = Path(folder)
        with atomic_folder(folder) as tmp:
            faiss.write_index(self.index, str(tmp / "index.faiss"))
            (tmp / "chunks.json").write_text(json.dumps([asdict(c) for c in self.chunks], ensure_ascii=False))
            meta = {"format": INDEX_FORMAT, "embedder": self.embedder_name, "with_title": self.with_title,
                    "dim": self.dim, "n_chunks": len(self.chunks), **self.info}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        return folder

    @classmethod
    def load(cls, folder: str | Path, embedder) -> "DenseIndex":
        import faiss

        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("format") != INDEX_FORMAT:
            raise ValueError(f"{folder}: index format {meta.get('format')} is not {INDEX_FORMAT}; rebuild it")
        chunks = [Chunk(**c) for c in json.loads((folder / "chunks.json").read_text())]
        index = faiss.read_index(str(folder / "index.faiss"))
        if index.ntotal != len(chunks):
            raise ValueError(f"{folder}: {index.ntotal} vectors but {len(chunks)} chunks; rebuild it")
        return cls(chunks, index, embedder, embedder_name=meta.get("embedder", ""),
                   with_title=meta.get("with_title", True), info={**meta, "loaded_from": str(folder)})


def index_key(corpus_digest: str, chunk_size: int, chunk_overlap: int, embedder_name: str,
              with_title: bool = True) -> str:
    raw = json.dumps([INDEX_FORMAT, corpus_digest, chunk_size, chunk_overlap, embedder_name, with_title])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


_EMBEDDERS: dict[str, Any] = {}


def get_embedder(name: str):
    """The sentence-transformers model for a name, loaded once per process."""
    if name not in _EMBEDDERS:
        from .. import models

        _EMBEDDERS[name] = models.load_embedder(name)
    return _EMBEDDERS[name]


def load_or_build_index(corpus: Sequence[Any], *, chunk_size: int = 500, chunk_overlap: int = 50,
                        embedder: str = "all-minilm-l6-v2", with_title: bool = True,
                        chunks: list[Chunk] | None = None, cache: bool = True) -> DenseIndex:
    """The dense index of a corpus, from `<cache>/indexes/<key>` when it was built before.

    The key hashes the corpus content, the chunking parameters and the embedder, so any change rebuilds.
    Pass `chunks` to index pieces other than `chunk_corpus(corpus, chunk_size, chunk_overlap)`.
    """
    model = get_embedder(embedder)
    digest = corpus_hash(corpus)
    if chunks is not None:  # custom pieces: hash them too
        digest = hashlib.sha256((digest + json.dumps([c.chunk_id for c in chunks])).encode()).hexdigest()[:16]
    folder = paths.cache_dir() / "indexes" / index_key(digest, chunk_size, chunk_overlap, embedder, with_title)
    if cache and (folder / "meta.json").is_file():
        try:
            return DenseIndex.load(folder, model)
        except (ValueError, RuntimeError, json.JSONDecodeError):
            pass  # unreadable: rebuild below
    pieces = chunks if chunks is not None else chunk_corpus(corpus, chunk_size, chunk_overlap)
    index = DenseIndex.build(pieces, model, embedder_name=embedder, with_title=with_title,
                             info={"chunk_size": chunk_size, "chunk_overlap": chunk_overlap, "corpus": digest})
    if cache:
        index.save(folder)
        index.info["saved_to"] = str(folder)
    return index


# --------------------------------------------------------------------------- BM25

_STOPWORDS = frozenset("""a an and are as at be by for from has have in is it its of on or that the this to was were
what when where which who whom whose why how with does did do under""".split())
_TOKEN = re.compile(r"[a-z0-9]+")


def bm25_tokenize(text: str) -> list[str]:
    """Lower-case word tokens without common English stopwords."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in _STOPWORDS]


class BM25Index:
    """Okapi BM25 over the same chunks (rank-bm25): exact word matches, no embeddings."""

    def __init__(self, chunks: list[Chunk], *, with_title: bool = True, k1: float = 1.5, b: float = 0.75):
        from rank_bm25 import BM25Okapi

        self.chunks = chunks
        self.bm25 = BM25Okapi([bm25_tokenize(c.embed_text(with_title)) or ["_"] for c in chunks], k1=k1, b=b)

    def scores(self, query: str) -> np.ndarray:
        return np.asarray(self.bm25.get_scores(bm25_tokenize(query)), dtype=np.float64)

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        out = []
        for query in queries:
            scores = self.scores(query)
            order = np.argsort(-scores, kind="stable")[:k]
            out.append([Hit(self.chunks[i], float(scores[i])) for i in order])
        return out


# --------------------------------------------------------------------------- fusion

def rrf(rankings: Sequence[Sequence[str]], k: int = 60, weights: Sequence[float] | None = None) -> list[tuple[str, float]]:
    """Reciprocal rank fusion (Cormack et al. 2009): score(d) = sum_i w_i / (k + rank_i(d)), ranks from 1.

    Items are ids; ties keep the order of first appearance (as LangChain's EnsembleRetriever does).
    """
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    order = list(scores)  # insertion order = first appearance
    order.sort(key=lambda item: scores[item], reverse=True)  # stable
    return [(item, scores[item]) for item in order]


def fuse_hits(hit_lists: Sequence[Sequence[Hit]], k: int = 60, weights: Sequence[float] | None = None) -> list[Hit]:
    """RRF over lists of hits (deduplicated by chunk); each returned hit carries its fused score."""
    chunks: dict[str, Chunk] = {}
    for hits in hit_lists:
        for h in hits:
            chunks.setdefault(h.chunk.chunk_id, h.chunk)
    fused = rrf([[h.chunk.chunk_id for h in hits] for hits in hit_lists], k=k, weights=weights)
    return [Hit(chunks[cid], score) for cid, score in fused]


class HybridRetriever:
    """Several retrievers, each asked for `depth` results, fused with RRF (k = 60 by default).

    The fused list has between `depth` and n * `depth` chunks; `search(queries, k)` returns its top k.
    """

    def __init__(self, retrievers: Sequence[Retriever], *, depth: int = 20, rrf_k: int = 60,
                 weights: Sequence[float] | None = None):
        self.retrievers = list(retrievers)
        self.depth, self.rrf_k, self.weights = depth, rrf_k, weights

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        per_retriever = [r.search(queries, self.depth) for r in self.retrievers]
        return [fuse_hits([hits[q] for hits in per_retriever], self.rrf_k, self.weights)[:k]
                for q in range(len(queries))]


# --------------------------------------------------------------------------- small-to-big

def child_chunks(parents: Sequence[Chunk], max_chars: int = 200) -> list[Chunk]:
    """Sentence-sized children of each parent chunk (sentences merged up to `max_chars`)."""
    children = []
    for parent in parents:
        pieces, buffer = [], ""
        for sentence in split_sentences(parent.text):
            if buffer and len(buffer) + 1 + len(sentence) > max_chars:
                pieces.append(buffer)
                buffer = sentence
            else:
                buffer = f"{buffer} {sentence}".strip()
        if buffer:
            pieces.append(buffer)
        for n, text in enumerate(pieces):
            children.append(Chunk(f"{parent.chunk_id}/{n}", parent.doc_id, parent.title, text, parent.start,
                                  {**parent.metadata, "parent_id": parent.chunk_id}))
    return children


class SmallToBigRetriever:
    """Parent-document retrieval: match small, precise children; return their (bigger) parent chunks."""

    def __init__(self, child_index: DenseIndex, parents: Sequence[Chunk], *, depth: int = 30):
        self.child_index = child_index
        self.parents = {p.chunk_id: p for p in parents}
        self.depth = depth

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        out = []
        for hits in self.child_index.search(queries, max(self.depth, 3 * k)):
            seen: dict[str, Hit] = {}
            for h in hits:
                pid = h.chunk.metadata.get("parent_id", h.chunk.chunk_id)
                if pid not in seen:
                    seen[pid] = Hit(self.parents[pid], h.score)
            out.append(list(seen.values())[:k])
        return out


# --------------------------------------------------------------------------- post-retrieval helpers

def mmr(query_vector: np.ndarray, candidate_vectors: np.ndarray, k: int, lambda_mult: float = 0.5) -> list[int]:
    """Maximal marginal relevance (Carbonell & Goldstein 1998), LangChain's implementation: indices chosen."""
    from langchain_core.vectorstores.utils import maximal_marginal_relevance

    if len(candidate_vectors) == 0:
        return []
    return maximal_marginal_relevance(np.asarray(query_vector, dtype=np.float32), candidate_vectors.tolist(),
                                      lambda_mult=lambda_mult, k=k)


def reorder_lost_in_the_middle(items: Sequence[Any]) -> list[Any]:
    """Best-first list -> best items at both ends, weakest in the middle (Liu et al. 2023).

    Same order as LangChain's LongContextReorder: [1, 2, 3, 4, 5] -> [1, 3, 5, 4, 2], [1, 2, 3] -> [1, 3, 2].
    """
    result: list[Any] = []
    for i, item in enumerate(reversed(list(items))):  # from the weakest to the best
        if i % 2 == 1:
            result.append(item)  # alternately to the back ...
        else:
            result.insert(0, item)  # ... and to the front, so the best end up at the two edges
    return result


# --------------------------------------------------------------------------- metrics

def doc_ranking(hits: Sequence[Hit]) -> list[str]:
    """Document ids in rank order, each once (a document's rank is that of its best chunk)."""
    return list(dict.fromkeys(h.chunk.doc_id for h in hits))


def recall_at_k(ranked: Sequence[str], gold: Iterable[str], k: int) -> float:
    """Fraction of the gold documents found in the top k."""
    gold = set(gold)
    return len(gold & set(ranked[:k])) / len(gold) if gold else float("nan")


def all_recall_at_k(ranked: Sequence[str], gold: Iterable[str], k: int) -> float:
    """1 if every gold document is in the top k (what a multi-hop question needs), else 0."""
    gold = set(gold)
    return float(gold <= set(ranked[:k])) if gold else float("nan")


def reciprocal_rank(ranked: Sequence[str], gold: Iterable[str]) -> float:
    """1 / rank of the first gold document, 0 if none was retrieved."""
    gold = set(gold)
    for rank, item in enumerate(ranked, start=1):
        if item in gold:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[str], gold: Iterable[str], k: int) -> float:
    """Binary-relevance nDCG@k: DCG = sum over relevant ranks r <= k of 1 / log2(r + 1), over the ideal DCG."""
    gold = set(gold)
    if not gold:
        return float("nan")
    dcg = sum(1.0 / math.log2(rank + 1) for rank, item in enumerate(ranked[:k], start=1) if item in gold)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(gold), k) + 1))
    return dcg / ideal


def retrieval_metrics(rankings: Sequence[Sequence[str]], golds: Sequence[Iterable[str]],
                      ks: Sequence[int] = (1, 3, 5, 10)) -> dict[str, float]:
    """Mean recall@k, all-recall@k, nDCG@k for each k, and MRR, over questions that have gold documents."""
    pairs = [(list(r), set(g)) for r, g in zip(rankings, golds) if set(g)]
    if not pairs:
        return {"n_questions": 0}
    out: dict[str, float] = {}
    for k in ks:
        out[f"recall@{k}"] = float(np.mean([recall_at_k(r, g, k) for r, g in pairs]))
    for k in ks:
        out[f"all_recall@{k}"] = float(np.mean([all_recall_at_k(r, g, k) for r, g in pairs]))
    for k in ks:
        out[f"ndcg@{k}"] = float(np.mean([ndcg_at_k(r, g, k) for r, g in pairs]))
    out["mrr"] = float(np.mean([reciprocal_rank(r, g) for r, g in pairs]))
    out["n_questions"] = len(pairs)
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}

"""Rerankers: a cross-encoder fine-tuned on the train split, and the LLM as a pointwise judge.

Measured on the course data (dev split, dense top-20, `dev_check`): the dense retriever is hard to beat (MRR
~0.89), a cross-encoder fine-tuned here from the bi-encoder checkpoint ranks worse on its own and gets worse with
more training (it fits the ~200 train questions), and so does the 135M LLM as a pointwise judge. Sorting by
their scores alone throws the retriever's ranking away; `FusedReranker` keeps it (reciprocal rank fusion of both
orders), which is how lab 03 uses a reranker.

A bi-encoder (the dense index) embeds question and passage separately; a cross-encoder reads them
together and outputs one relevance score, which is slower per pair but more precise, so it only rescores
the top candidates. We fine-tune one from the packaged MiniLM (a bi-encoder checkpoint: its encoder is
reused, the one-output classification head starts random) on (question, passage, relevant?) pairs built
from the train split: passages of the gold documents are positives, high-ranked passages of other
documents are hard negatives. The trained model is cached under `<cache>/rerankers/<key>`.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import random

import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import models, paths
from ..paths import atomic_folder
from .retrieval import Chunk, DenseIndex, corpus_hash


def _quiet_cross_encoder(path: str, **kwargs):
    """A CrossEncoder from a bi-encoder folder, without transformers' report that the classifier head is new
    (it is: that is the point)."""
    import logging

    from sentence_transformers import CrossEncoder
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    st_logger = logging.getLogger("sentence_transformers")
    st_level = st_logger.level
    hf_logging.set_verbosity_error()
    st_logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return CrossEncoder(path, device="cpu", local_files_only=True, **kwargs)
    finally:
        hf_logging.set_verbosity(level)
        st_logger.setLevel(st_level)


def training_pairs(questions: Sequence, index: DenseIndex, n_pairs: int, *, negatives_per_positive: int = 3,
                   depth: int = 20, seed: int = 0) -> list[tuple[str, str, float]]:
    """(question, passage text, label) pairs: per question, the best-ranked chunk of a gold document is the
    positive and the best-ranked chunks of other documents are hard negatives."""
    rng = random.Random(seed)
    pool = [q for q in questions if q.doc_ids]
    rng.shuffle(pool)
    per_question = 1 + negatives_per_positive
    pool = pool[: max(1, -(-n_pairs // per_question))]
    pairs: list[tuple[str, str, float]] = []
    all_hits = index.search([q.question for q in pool], depth)
    for q, hits in zip(pool, all_hits):
        gold = set(q.doc_ids)
        positives = [h for h in hits if h.doc_id in gold]
        if not positives:  # the gold document was not retrieved: take its first chunk
            positives_chunks = [c for c in index.chunks if c.doc_id in gold][:1]
        else:
            positives_chunks = [positives[0].chunk]
        negatives = [h.chunk for h in hits if h.doc_id not in gold][:negatives_per_positive]
        for c in positives_chunks:
            pairs.append((q.question, c.embed_text(), 1.0))
        for c in negatives:
            pairs.append((q.question, c.embed_text(), 0.0))
    return pairs[:n_pairs]


def _key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


class CrossEncoderReranker:
    """sentence-transformers CrossEncoder: `score(question, chunks) -> (scores, [])`."""

    def __init__(self, model, info: dict | None = None):
        self.model = model
        self.info = dict(info or {})

    def score(self, question: str, chunks: Sequence[Chunk], llm=None):
        if not chunks:
            return [], []
        scores = self.model.predict([(question, c.embed_text()) for c in chunks], batch_size=32,
                                    show_progress_bar=False)
        return [float(s) for s in np.atleast_1d(scores)], []

    @classmethod
    def load(cls, folder: str | Path, info: dict | None = None) -> "CrossEncoderReranker":
        from sentence_transformers import CrossEncoder

        return cls(CrossEncoder(str(folder), device="cpu", local_files_only=True), info)


def train_cross_encoder(questions: Sequence, index: DenseIndex, corpus: Sequence, *, base: str = models.MINILM,
                        n_pairs: int = 320, epochs: int = 1, batch_size: int = 16, learning_rate: float = 5e-5,
                        max_length: int = 256, seed: int = 0, cache: bool = True) -> CrossEncoderReranker:
    """Fine-tune a cross-encoder from `base` on pairs from `questions` (the train split); cached by data + params."""
    params = {"base": base, "n_pairs": n_pairs, "epochs": epochs, "batch_size": batch_size, "lr": learning_rate,
              "max_length": max_length, "seed": seed, "corpus": corpus_hash(corpus),
              "questions": hashlib.sha256("".join(q.qid for q in questions).encode()).hexdigest()[:12],
              "chunks": index.info.get("chunk_size"), "version": 1}
    folder = paths.cache_dir() / "rerankers" / _key(params)
    if cache and (folder / "labsutil_reranker.json").is_file():
        info = json.loads((folder / "labsutil_reranker.json").read_text())
        return CrossEncoderReranker.load(folder, {**info, "cached": True})

    import torch
    from datasets import Dataset as HFDataset
    from sentence_transformers.cross_encoder import (CrossEncoderTrainer, CrossEncoderTrainingArguments)
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    torch.manual_seed(seed)
    pairs = training_pairs(questions, index, n_pairs, seed=seed)
    start = time.perf_counter()
    model = _quiet_cross_encoder(str(models.resolve_embedder(base).path), num_labels=1, max_length=max_length)
    train = HFDataset.from_dict({"query": [p[0] for p in pairs], "passage": [p[1] for p in pairs],
                                 "label": [p[2] for p in pairs]})
    with tempfile.TemporaryDirectory() as tmp:
        args = CrossEncoderTrainingArguments(
            output_dir=tmp, num_train_epochs=epochs, per_device_train_batch_size=batch_size,
            learning_rate=learning_rate, warmup_steps=0.1, save_strategy="no", report_to="none",
            logging_strategy="no", use_cpu=True, seed=seed, bf16=False, fp16=False, disable_tqdm=True,
            dataloader_num_workers=0)
        trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=train,
                                      loss=BinaryCrossEntropyLoss(model))
        with contextlib.redirect_stdout(io.StringIO()):  # the trainer prints its final metrics dict
            trainer.train()
    seconds = time.perf_counter() - start
    info = {**params, "train_seconds": round(seconds, 2), "n_train_pairs": len(pairs),
            "positives": int(sum(p[2] for p in pairs))}
    if cache:
        with atomic_folder(folder) as tmp:
            model.save_pretrained(str(tmp))
            (tmp / "labsutil_reranker.json").write_text(json.dumps(info))
    return CrossEncoderReranker(model, {**info, "cached": False})


def untrained_cross_encoder(base: str = models.MINILM) -> CrossEncoderReranker:
    """The same architecture before fine-tuning (random head): the control for what training added."""
    return CrossEncoderReranker(_quiet_cross_encoder(str(models.resolve_embedder(base).path), num_labels=1),
                                {"trained": False})


LLM_RERANK_PROMPT = ("Document:\n{title}\n{text}\n\nQuestion: {question}\n"
                     "Does the document contain the answer to the question? Answer Yes or No.")


class LLMReranker:
    """Pointwise LLM relevance: score = log P("Yes") - log P("No") after a yes/no relevance prompt.

    Every candidate costs one forward pass of the LLM, so only the top `depth` candidates are scored;
    the rest keep their order below them.
    """

    def __init__(self, depth: int = 6):
        self.depth = depth

    def score(self, question: str, chunks: Sequence[Chunk], llm=None):
        from ..llm import Generation

        scores, gens = [], []
        for rank, c in enumerate(chunks):
            if rank >= self.depth:
                scores.append(-1e6 - rank)  # below every scored candidate, in the old order
                continue
            prompt = LLM_RERANK_PROMPT.format(title=c.title, text=c.text, question=question)
            start = time.perf_counter()
            yes, no = llm.loglikelihood(prompt, ["Yes", "No"])
            seconds = time.perf_counter() - start
            from . import pipeline

            pipeline.LLM_WALL_SECONDS[0] += seconds
            scores.append(yes - no)
            gens.append(Generation("", llm.count_tokens(llm.format(prompt)) * 2, 0, seconds, "stop"))
        return scores, gens


class FusedReranker:
    """A reranker whose scores are fused with the retriever's order by reciprocal rank fusion (Cormack et al.
    2009, k = 60): candidates arrive in retriever order, so a weak reranker can move a candidate only as far as
    both rankings agree, instead of replacing the retriever's ranking with its own."""

    def __init__(self, reranker, k: int = 60):
        self.reranker, self.k = reranker, k
        self.info = {**getattr(reranker, "info", {}), "fused_with_retriever": True, "rrf_k": k}

    def score(self, question: str, chunks: Sequence[Chunk], llm=None):
        scores, gens = self.reranker.score(question, chunks, llm=llm)
        return fuse_with_retriever(scores, self.k), gens


def fuse_with_retriever(scores: Sequence[float], k: int = 60) -> list[float]:
    """RRF scores of candidates given in retriever order: 1 / (k + retriever rank) + 1 / (k + reranker rank)."""
    from .retrieval import rrf

    by_reranker = _order(scores)  # stable: ties keep the retriever's order
    fused = dict(rrf([list(range(len(scores))), by_reranker], k=k))
    return [fused[i] for i in range(len(scores))]


def _order(scores: Sequence[float]) -> list[int]:
    return sorted(range(len(scores)), key=lambda i: -scores[i])


def _ranking_row(name: str, rankings: list, golds: list, seed: int) -> dict:
    from .. import stats
    from .retrieval import recall_at_k, reciprocal_rank

    mrr = stats.bootstrap_mean([reciprocal_rank(r, g) for r, g in zip(rankings, golds)], seed=seed)
    recall = {k: round(float(np.mean([recall_at_k(r, g, k) for r, g in zip(rankings, golds)])), 4) for k in (1, 3)}
    return {"reranker": name, "mrr": round(mrr.value, 4), "mrr_ci_low": round(mrr.ci_low, 4),
            "mrr_ci_high": round(mrr.ci_high, 4), "recall@1": recall[1], "recall@3": recall[3], "n": len(rankings)}


def dev_check(rerankers: dict, questions: Sequence, index: DenseIndex, *, depth: int = 20, rrf_k: int = 60,
              llm=None, seed: int = 0):
    """Each reranker's own ranking quality on held-out questions (e.g. the dev split) against the retriever's,
    over the retriever's top `depth`: MRR with its bootstrap 95% interval, document recall@1 and @3. Every
    reranker is shown twice: its scores alone, and fused with the retriever's order (`FusedReranker`, from the
    same scores). Returns a DataFrame, one row per ranking."""
    import pandas as pd

    from .retrieval import doc_ranking

    questions = [q for q in questions if q.doc_ids]
    golds = [q.doc_ids for q in questions]
    hits = index.search([q.question for q in questions], depth)
    rows = [_ranking_row("retriever (no reranking)", [doc_ranking(h) for h in hits], golds, seed)]
    for name, scorer in rerankers.items():
        alone, fused = [], []
        for q, candidates in zip(questions, hits):
            scores, _ = scorer.score(q.question, [h.chunk for h in candidates], llm=llm)
            alone.append(doc_ranking([candidates[i] for i in _order(scores)]))
            fused.append(doc_ranking([candidates[i] for i in _order(fuse_with_retriever(scores, rrf_k))]))
        rows.append(_ranking_row(name, alone, golds, seed))
        rows.append(_ranking_row(f"{name}, fused with the retriever", fused, golds, seed))
    return pd.DataFrame(rows).set_index("reranker")


def record_check(cfg, table) -> list[dict]:
    """One ledger row per ranking of `dev_check` (variant `rerank_check/<name as a slug>`), MRR with n and interval."""
    import re

    from .. import ledger

    rows = []
    for name, row in table.iterrows():
        slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        metrics = {"mrr": row["mrr"], "mrr_n": int(row["n"]), "mrr_ci_low": row["mrr_ci_low"],
                   "mrr_ci_high": row["mrr_ci_high"], "recall@1": row["recall@1"], "recall@3": row["recall@3"]}
        rows.append(ledger.record(cfg, f"rerank_check/{slug}", metrics, params={"split": "dev", "ranking": name}))
    return rows


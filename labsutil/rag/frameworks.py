"""ragas evaluation of RAG runs, and the LangChain version of the lab-02 pipeline.

ragas 0.4 (see the stack notes): `evaluate()` takes the legacy metric objects from `ragas.metrics`.
Without an LLM these work offline: ID-based context precision / recall, non-LLM context recall and
precision (string similarity to reference contexts) and string metrics against the reference answer.
The LLM-judged metrics (faithfulness, answer relevancy) need a judge model that follows ragas' output
format; a 135M model does not (it returns NaN), so they run only when asked (the gpu profile).
"""
from __future__ import annotations

import warnings
from typing import Any, Sequence

from ..evaluate import normalize_answer
from .retrieval import Chunk

NON_LLM_METRICS = ("IDBasedContextPrecision", "IDBasedContextRecall", "NonLLMContextRecall",
                   "NonLLMContextPrecisionWithReference", "StringPresence", "NonLLMStringSimilarity", "RougeScore")


def reference_contexts(question, chunks: Sequence[Chunk]) -> list[str]:
    """Per gold document, the chunk that states the answer (or an alias); else the document's first chunk."""
    answers = [normalize_answer(a) for a in (question.answer, *question.aliases) if normalize_answer(a)]
    out = []
    for doc_id in question.doc_ids:
        own = [c for c in chunks if c.doc_id == doc_id]
        stating = [c for c in own if any(f" {a} " in f" {normalize_answer(c.text)} " for a in answers)]
        pick = (stating or own)[:1]
        out += [c.text for c in pick]
    return out


def samples(questions: Sequence, result, chunks: Sequence[Chunk]) -> list:
    """ragas SingleTurnSamples of a RunResult: contexts as text and as document ids, answer, reference."""
    from ragas import SingleTurnSample

    out = []
    for q, ctx, rec in zip(questions, result.contexts, result.records):
        out.append(SingleTurnSample(
            user_input=q.question, response=rec.prediction, reference=q.answer,
            retrieved_contexts=[c.text for c in ctx] or [""],
            retrieved_context_ids=[c.doc_id for c in ctx],
            reference_contexts=reference_contexts(q, chunks) or [""],
            reference_context_ids=list(q.doc_ids)))
    return out


def _metrics(names: Sequence[str]):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import ragas.metrics as m

        return [getattr(m, n)() for n in names]


def ragas_scores(sample_list: Sequence, *, metric_names: Sequence[str] = NON_LLM_METRICS, llm=None,
                 embeddings=None) -> dict[str, float]:
    """Mean of each ragas metric over the samples (ragas `evaluate()`), rounded; NaN-only metrics omitted."""
    from ragas import EvaluationDataset, evaluate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = evaluate(EvaluationDataset(samples=list(sample_list)), metrics=_metrics(metric_names),
                          llm=llm, embeddings=embeddings, show_progress=False, raise_exceptions=False)
    df = result.to_pandas()
    skip = {"user_input", "retrieved_contexts", "reference_contexts", "retrieved_context_ids",
            "reference_context_ids", "response", "reference"}
    out = {}
    for col in df.columns:
        if col in skip:
            continue
        values = df[col].astype(float)
        if values.notna().any():
            out[col.replace("(mode=fmeasure)", "").strip("_ ")] = round(float(values.mean()), 4)
    return out


def ragas_judge(llm_obj, max_new_tokens: int = 256):
    """(ragas llm, ragas embeddings) wrapping the course LLM (transformers backend) and the embedder,
    for the LLM-judged metrics. Needs a model that follows instructions well (the gpu profile's)."""
    from langchain_huggingface import HuggingFacePipeline
    from ragas.embeddings import LangchainEmbeddingsWrapper
    from ragas.llms import LangchainLLMWrapper

    pipe = text_generation_pipeline(llm_obj, max_new_tokens=max_new_tokens)
    return LangchainLLMWrapper(HuggingFacePipeline(pipeline=pipe)), LangchainEmbeddingsWrapper(hf_embeddings())


LLM_METRICS = ("Faithfulness", "ResponseRelevancy")


# --------------------------------------------------------------------------- LangChain

def hf_embeddings(name: str = "all-minilm-l6-v2"):
    """LangChain's HuggingFaceEmbeddings on the same local model, normalised like the labsutil index."""
    from langchain_huggingface import HuggingFaceEmbeddings

    from ..models import resolve_embedder

    return HuggingFaceEmbeddings(model_name=str(resolve_embedder(name).path),
                                 model_kwargs={"device": "cpu", "local_files_only": True},
                                 encode_kwargs={"normalize_embeddings": True})


_TRANSFORMERS_COPIES: dict = {}


def transformers_llm(llm_obj):
    """The LLM itself when it runs on transformers; else (vLLM) a transformers copy of the same model,
    loaded once, because HuggingFacePipeline needs a transformers model object."""
    if llm_obj.model is not None:
        return llm_obj
    if llm_obj.name not in _TRANSFORMERS_COPIES:
        from ..llm import LLM

        _TRANSFORMERS_COPIES[llm_obj.name] = LLM(llm_obj.name, backend="transformers", dtype="auto")
    return _TRANSFORMERS_COPIES[llm_obj.name]


def text_generation_pipeline(llm_obj, max_new_tokens: int = 32):
    """A transformers text-generation pipeline over the already loaded model (greedy, new text only)."""
    from transformers import pipeline

    llm_obj = transformers_llm(llm_obj)
    return pipeline("text-generation", model=llm_obj.model, tokenizer=llm_obj.tokenizer,
                    max_new_tokens=max_new_tokens, do_sample=False, return_full_text=False)


def langchain_vectorstore(index, embeddings=None):
    """A `langchain_community` FAISS store over the same chunks and vectors as a labsutil DenseIndex
    (inner product on unit vectors = cosine, as in the labsutil index)."""
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy

    embeddings = embeddings or hf_embeddings(index.embedder_name or "all-minilm-l6-v2")
    vectors = index.vectors()
    pairs = [(c.embed_text(index.with_title), v.tolist()) for c, v in zip(index.chunks, vectors)]
    metadatas = [{"doc_id": c.doc_id, "chunk_id": c.chunk_id, "title": c.title, "text": c.text} for c in index.chunks]
    return FAISS.from_embeddings(pairs, embeddings, metadatas=metadatas, ids=[c.chunk_id for c in index.chunks],
                                 distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT)


def langchain_rag_chain(vectorstore, llm_obj, k: int = 3, max_new_tokens: int = 32):
    """The lab-02 pipeline in LangChain (LCEL): retriever -> grounded prompt (chat template) -> HuggingFacePipeline.

    Returns (chain, retriever); `chain.invoke(question)` gives {"question", "context" (Documents), "answer"}.
    """
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.runnables import RunnableLambda, RunnableParallel, RunnablePassthrough
    from langchain_huggingface import HuggingFacePipeline

    from . import pipeline

    retriever = vectorstore.as_retriever(search_kwargs={"k": k})
    hf_llm = HuggingFacePipeline(pipeline=text_generation_pipeline(llm_obj, max_new_tokens))

    def to_chat(inputs: dict) -> str:  # the same chat-formatted text the labsutil path sends
        chunks = [Chunk(d.metadata["chunk_id"], d.metadata["doc_id"], d.metadata["title"], d.metadata["text"])
                  for d in inputs["context"]]
        return llm_obj.format(pipeline.grounded_prompt(inputs["question"], chunks), system=pipeline.SYSTEM)

    answer = RunnableLambda(to_chat) | hf_llm | StrOutputParser()
    chain = RunnableParallel(context=retriever, question=RunnablePassthrough()).assign(answer=answer)
    return chain, retriever


def langchain_template_demo() -> Any:
    """The prompt as a LangChain PromptTemplate (what the chain's `to_chat` fills in)."""
    from langchain_core.prompts import PromptTemplate

    from . import pipeline

    return PromptTemplate.from_template("Documents:\n\n{context}\n\nQuestion: {question}\n" + pipeline.GROUNDED_INSTRUCTION)

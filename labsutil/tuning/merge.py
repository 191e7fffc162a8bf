"""A LoRA adapter folded into the base weights: W' = W + (alpha / r) * B @ A, with peft's `merge_and_unload`.

The merged model has the base model's architecture and size, answers like the adapter (up to float rounding)
and decodes at the base model's speed: the low-rank update costs nothing at inference once it is baked in.
The merged folder is cached next to the adapters, keyed by the base model and the adapter's files.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

from .. import models
from ..paths import atomic_folder
from . import cache as cache_mod

MERGE_MARKER = "merged.json"


def merged_key(base_identity: str, adapter_path: str | Path) -> str:
    digest = hashlib.sha256(f"merge\0{base_identity}\0{cache_mod.model_identity(adapter_path)}".encode())
    return f"merged-{digest.hexdigest()[:16]}"


def merge_lora(base_model: str, adapter_path: str | Path, *, cache: bool = True) -> Path:
    """A model folder (safetensors, with tokenizer) of the base model with the LoRA adapter merged in.

    Usable as `LLM(model=str(folder))`. A cached merge is reused (said so).
    """
    import json

    from peft import PeftModel

    from .train import load_base

    base = models.resolve_llm(base_model)
    folder = cache_mod.adapters_dir() / merged_key(cache_mod.model_identity(base.path), adapter_path)
    if cache and (folder / MERGE_MARKER).is_file():
        print(f"cache: merged model loaded from {folder}; not merged again")
        return folder
    start = time.perf_counter()
    model, tokenizer = load_base(base.path)
    peft_model = PeftModel.from_pretrained(model, str(adapter_path))
    if peft_model.active_peft_config.peft_type != "LORA":
        raise ValueError(f"{adapter_path} holds a {peft_model.active_peft_config.peft_type} adapter; "
                         "only LoRA adapters can be merged into the weights")
    merged = peft_model.merge_and_unload()
    with atomic_folder(folder) as tmp:
        merged.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / MERGE_MARKER).write_text(json.dumps({
            "base_model": base_model, "adapter": str(adapter_path),
            "seconds": round(time.perf_counter() - start, 2), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))
    return folder

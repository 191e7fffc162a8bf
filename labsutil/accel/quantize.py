"""Precision and quantization routes, each from the field's tools.

- bf16: the same weights in bfloat16 (fast only where the CPU computes bf16 natively: `speed.native_bf16`);
- torchao int8 weight-only (`torchao.quantization.quantize_`, the successor of torch.ao's eager quantization):
  int8 weights with a scale per output channel, dequantized inside each matmul; on a small model on a CPU it
  saves memory, not time (the dequantization per call costs more than the smaller reads save);
- ONNX Runtime GenAI int4 / fp32: its model builder exports the course's model folder once; the folder is cached
  under `<cache>/accel/` keyed by the model's files, the precision and the builder's version;
- llama.cpp: the GGUF file the course's model ships as (Q4_1) is used as it is.
"""
from __future__ import annotations

import copy
import importlib.metadata
import json
import subprocess
import sys
import time
from pathlib import Path

from .. import paths
from ..paths import atomic_folder

_DONE = "labsutil_export.json"
#: The builder options of the course's ONNX routes. int4: k-quant with the output head and the most sensitive layers
#: in int8 (llama.cpp's mixed strategy); on lab 08's questions the builder's default (plain round-to-nearest int4)
#: lost more accuracy. `export_ort(..., options={})` gives the builder's default.
DEFAULT_OPTIONS = {"int4": {"algo_config": "k_quant_mixed"}, "int8": {}, "fp32": {}}


def int8_weight_only(model):
    """A copy of the model whose decoder Linear layers hold int8 weights (torchao). The output head stays tied to
    the fp32 embeddings: quantizing it would untie it and add a second copy."""
    import logging

    import torch

    logging.getLogger("torchao").setLevel(logging.ERROR)  # its GPU-only kernels report failing to load on a CPU
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    quantized = copy.deepcopy(model).float()
    quantize_(quantized, Int8WeightOnlyConfig(),
              filter_fn=lambda module, name: isinstance(module, torch.nn.Linear) and ".layers." in f".{name}")
    return quantized


def to_bf16(model):
    import torch

    return copy.deepcopy(model).to(torch.bfloat16)


def export_dir(model_folder: Path, precision: str, options: dict | None = None) -> Path:
    import hashlib

    from ..tuning import cache

    version = importlib.metadata.version("onnxruntime-genai")
    identity = cache.model_identity(model_folder)[:16]
    tag = hashlib.sha256(json.dumps(options or {}, sort_keys=True).encode()).hexdigest()[:8] if options else "default"
    return paths.cache_dir() / "accel" / f"ort-{precision}-{identity}-{version}-{tag}"


def export_ort(model_folder: str | Path, precision: str = "int4", threads: int = 2,
               options: dict | None = None) -> tuple[Path, dict]:
    """The ONNX Runtime GenAI export of a model folder: (folder, card). Exports once (seconds to a minute), then
    loads.

    `options`: the builder's `--extra_options` (e.g. {"algo_config": "k_quant", "accuracy_level": 1}); None takes
    `DEFAULT_OPTIONS`, {} the builder's own defaults; they are part of the cache folder's name. The card says how long the export took, so the lab can state the one-time cost on
    a rerun too. The builder's default of one intra-op thread is raised to `threads` in genai_config.json
    (measured: 149 -> 189 tok/s on 2 cores for int4).
    """
    if precision not in ("int4", "fp32", "int8"):
        raise ValueError(f"precision {precision!r} is not supported here; allowed: 'int4', 'int8', 'fp32'")
    model_folder = Path(model_folder)
    options = DEFAULT_OPTIONS[precision] if options is None else options
    out = export_dir(model_folder, precision, options)
    if (out / _DONE).is_file():
        return out, json.loads((out / _DONE).read_text())
    start = time.perf_counter()
    with atomic_folder(out) as tmp:
        command = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(model_folder), "-o", str(tmp),
                   "-p", precision, "-e", "cpu", "-c", str(tmp / "_hf_cache")]
        if options:
            command += ["--extra_options", *(f"{k}={v}" for k, v in sorted(options.items()))]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"the ONNX Runtime GenAI export failed ({' '.join(command)}):\n{done.stderr[-3000:]}")
        _set_threads(tmp / "genai_config.json", threads)
        _remove_tree(tmp / "_hf_cache")
        card = {"precision": precision, "export_seconds": round(time.perf_counter() - start, 1),
                "builder": importlib.metadata.version("onnxruntime-genai"), "threads": threads,
                "options": options or {},
                "source": str(model_folder)}
        (tmp / _DONE).write_text(json.dumps(card, indent=2))
    return out, card


def _set_threads(config_path: Path, threads: int) -> None:
    config = json.loads(config_path.read_text())
    session = config["model"]["decoder"].setdefault("session_options", {})
    session["intra_op_num_threads"] = threads
    config_path.write_text(json.dumps(config, indent=4))


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)

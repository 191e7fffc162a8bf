"""The course's profiles and every lab's parameters, in one place.

A parameter is declared once with its type, its allowed values and its value in
each profile. A notebook's `parameters` cell sets a parameter to `None` to mean
"the profile's value"; `labsutil.config.setup` resolves and validates them.

Profiles (design.md section 5):
- smoke: CI; small slices and few steps, every notebook well under 2 minutes.
- workshop: the default; meaningful results on a 2-core CPU, each lab under 8 minutes.
- gpu: a larger model, the vLLM backend, full evaluation sets, LLM-judged metrics.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROFILES = ("smoke", "workshop", "gpu")
DEFAULT_PROFILE = "workshop"

DEFAULT_LLM = "smollm2-135m-instruct"
DEFAULT_EMBEDDER = "all-minilm-l6-v2"
# The gpu profile's model comes from the Hugging Face hub: download it once
# (see README, "GPU") since the course runs offline by default.
GPU_LLM = "HuggingFaceTB/SmolLM2-1.7B-Instruct"


@dataclass(frozen=True)
class Param:
    """One parameter: its type, what is allowed, and its value per profile."""

    types: tuple[type, ...]
    default: Any = None  # one value for every profile, or a dict profile -> value
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    nullable: bool = False  # None stays None after resolution (e.g. "all questions")
    help: str = ""

    def value_for(self, profile: str) -> Any:
        if isinstance(self.default, dict):
            return self.default[profile]
        return self.default

    def allowed(self) -> str:
        """What is allowed, in words, for error messages."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        names = "/".join(t.__name__ for t in self.types)
        if self.min is not None and self.max is not None:
            text = f"{names} from {self.min} to {self.max}"
        elif self.min is not None:
            text = f"{names} >= {self.min}"
        elif self.max is not None:
            text = f"{names} <= {self.max}"
        else:
            text = names
        return text + (" or None" if self.nullable else "")


def _p(types, default=None, **kw) -> Param:
    return Param(types=types if isinstance(types, tuple) else (types,), default=default, **kw)


# Parameters every lab has.
COMMON: dict[str, Param] = {
    "profile": _p(str, DEFAULT_PROFILE, choices=PROFILES, help="which profile's values to use"),
    "dataset_dir": _p(str, "../data/contracts", help="a folder keeping the data contract (design.md section 6)"),
    "model": _p(str, {"smoke": DEFAULT_LLM, "workshop": DEFAULT_LLM, "gpu": GPU_LLM},
                help="LLM: a course short name, a Hugging Face id, or a local folder"),
    "embedder": _p(str, DEFAULT_EMBEDDER, help="sentence-transformers model: short name, HF id or folder"),
    "backend": _p(str, {"smoke": "transformers", "workshop": "transformers", "gpu": "vllm"},
                  choices=("transformers", "vllm"), help="generation backend"),
    "dtype": _p(str, {"smoke": "float32", "workshop": "float32", "gpu": "bfloat16"},
                choices=("auto", "float32", "bfloat16", "float16"), help="model weights dtype"),
    "run_dir": _p(str, None, nullable=True,
                  help="where the ledger and plots go; None: $LABS_RUN_DIR or runs/interactive"),
    "seed": _p(int, 0, min=0, max=2**31 - 1, help="seed for every random generator"),
    "n_eval": _p(int, {"smoke": 12, "workshop": 60, "gpu": None}, min=1, nullable=True,
                 help="how many evaluation questions (None: all)"),
    "batch_size": _p(int, {"smoke": 8, "workshop": 8, "gpu": 64}, min=1, max=1024,
                     help="generation batch size"),
    "max_new_tokens": _p(int, {"smoke": 32, "workshop": 48, "gpu": 128}, min=1, max=4096,
                         help="tokens generated per answer"),
}

# Each lab's own knobs, keyed by the two-digit lab number.
LAB_PARAMS: dict[str, dict[str, Param]] = {
    "00": {
        "decode_tokens": _p(int, {"smoke": 16, "workshop": 48, "gpu": 128}, min=4, max=1024,
                            help="tokens decoded per prompt in the throughput measurement"),
        "throughput_batch": _p(int, 8, min=2, max=256, help="batch size compared against batch 1"),
    },
}


def lab_params(lab: str) -> dict[str, Param]:
    """COMMON plus the lab's own parameters."""
    return {**COMMON, **LAB_PARAMS.get(lab, {})}

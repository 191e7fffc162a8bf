"""Hyperparameters of a training run: defaults per method, and validation that names what is wrong.

Every value is checked before a model is loaded, with the same rules (and message form) as the lab
parameters: `parameter 'lora_r' = 0 is below the minimum 1; allowed: int from 1 to 4096`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

from ..config import ParameterError, check_value
from ..profiles import Param

METHODS = ("full", "lora", "prompt_tuning")

# Learning rates that move a small model in tens of steps. TRL's default (2e-5) is a full fine-tuning rate for
# long runs and barely moves a LoRA adapter or a soft prompt in a short one. LoRA's 1e-3 taught SmolLM2-135M
# 2 of 3 facts in 30 steps (stack-notes.md); prompt tuning trains 20 vectors only and wants a far larger step
# (Lester et al. 2021 used 0.3 with Adafactor; 3e-2 with AdamW is peft's usual example). The lab sweeps them.
DEFAULT_LEARNING_RATE = {"full": 5e-5, "lora": 1e-3, "prompt_tuning": 3e-2}

# All attention and MLP projections of a Llama-style block (Biderman et al. 2024: attention-only LoRA learns less).
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

PROMPT_INIT_TEXT = "Answer the question about the company documents briefly and factually."


@dataclass(frozen=True)
class Hyperparameters:
    """What a training run may vary. Fields of another method are ignored (and left out of the cache key)."""

    learning_rate: float | None = None  # None: DEFAULT_LEARNING_RATE[method]
    epochs: float = 1.0
    max_steps: int | None = None  # optimizer steps; when set it overrides epochs (fixes the time budget)
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 256  # tokens per example (raw documents are packed into blocks of this length)
    lr_scheduler: str = "linear"
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    seed: int = 0
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    lora_targets: tuple[str, ...] = LORA_TARGETS
    virtual_tokens: int = 20
    prompt_init_text: str = PROMPT_INIT_TEXT
    # off by default: on a CPU without native bf16 it is slower, and it changes greedy answers (stack-notes.md);
    # the labs turn it on where they answer in bf16 (dtype auto on a native-bf16 CPU: steps 1.1-1.8x faster,
    # more on long rows)
    bf16: bool = False
    # off: it recomputes activations to save memory a 135M model does not need (~30% more compute)
    gradient_checkpointing: bool = False
    logging_steps: int = 5  # how often the loss curve gets a point; does not change the weights

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["lora_targets"] = list(self.lora_targets)
        return values


_SPECS: dict[str, Param] = {
    "learning_rate": Param((float,), min=1e-8, max=10.0, nullable=True,
                           help="optimizer step size (None: the method's default)"),
    "epochs": Param((float,), min=0.01, max=1000.0, help="passes over the training data"),
    "max_steps": Param((int,), min=1, max=10**7, nullable=True, help="optimizer steps; overrides epochs"),
    "batch_size": Param((int,), min=1, max=4096, help="examples per device per step"),
    "grad_accum": Param((int,), min=1, max=1024, help="micro-batches per optimizer step"),
    "max_length": Param((int,), min=8, max=131072, help="tokens per example"),
    "lr_scheduler": Param((str,), choices=("linear", "constant", "cosine"), help="learning-rate schedule"),
    "warmup_ratio": Param((float,), min=0.0, max=0.5, help="share of steps spent warming up"),
    "weight_decay": Param((float,), min=0.0, max=1.0, help="AdamW weight decay"),
    "seed": Param((int,), min=0, max=2**31 - 1, help="seed of adapter init and data order"),
    "lora_r": Param((int,), min=1, max=4096, help="LoRA rank"),
    "lora_alpha": Param((int, float), min=1e-6, max=1e6, help="LoRA scaling numerator (scale = alpha / r)"),
    "lora_dropout": Param((float,), min=0.0, max=0.9, help="dropout on the LoRA input"),
    "virtual_tokens": Param((int,), min=1, max=1024, help="soft-prompt length of prompt tuning"),
    "prompt_init_text": Param((str,), help="text whose token embeddings initialise the soft prompt"),
    "bf16": Param((bool,), help="bfloat16 mixed precision"),
    "gradient_checkpointing": Param((bool,), help="recompute activations in the backward pass"),
    "logging_steps": Param((int,), min=1, max=10**6, help="steps between loss-curve points"),
}
_METHOD_SPEC = Param((str,), choices=METHODS, help="how the weights are trained")
_ONLY_FOR = {"lora": ("lora_r", "lora_alpha", "lora_dropout", "lora_targets"),
             "prompt_tuning": ("virtual_tokens", "prompt_init_text")}
_NOT_IN_KEY = ("logging_steps",)  # changes what is logged, not what is learned


def check_method(method: str) -> str:
    return check_value("method", method, _METHOD_SPEC)


def check(method: str, hp: Hyperparameters | Mapping[str, Any] | None = None, **overrides: Any) -> Hyperparameters:
    """Validated hyperparameters with the method's learning rate filled in; ParameterError names a bad one."""
    check_method(method)
    if hp is None:
        hp = Hyperparameters()
    elif isinstance(hp, Mapping):
        overrides = {**hp, **overrides}
        hp = Hyperparameters()
    known = {f.name for f in fields(Hyperparameters)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ParameterError(f"unknown hyperparameter(s) {unknown}; allowed: {sorted(known)}")
    if "lora_targets" in overrides and overrides["lora_targets"] is not None:
        targets = overrides["lora_targets"]
        overrides["lora_targets"] = tuple(targets.split(",")) if isinstance(targets, str) else tuple(targets)
    hp = replace(hp, **overrides)
    for name, spec in _SPECS.items():
        check_value(name, getattr(hp, name), spec)
    if not hp.lora_targets or not all(isinstance(t, str) and t.strip() for t in hp.lora_targets):
        raise ParameterError(f"parameter 'lora_targets' = {list(hp.lora_targets)!r} is not allowed; "
                             f"allowed: a non-empty list of module names, e.g. {list(LORA_TARGETS)}")
    if method == "prompt_tuning" and not hp.prompt_init_text.strip():
        raise ParameterError("parameter 'prompt_init_text' = '' is not allowed; allowed: a non-empty text")
    if hp.learning_rate is None:
        hp = replace(hp, learning_rate=DEFAULT_LEARNING_RATE[method])
    return hp


def key_fields(method: str, hp: Hyperparameters) -> dict[str, Any]:
    """The hyperparameters that change what this method learns (the cache key hashes these)."""
    others = {name for m, names in _ONLY_FOR.items() if m != method for name in names}
    return {k: v for k, v in hp.as_dict().items() if k not in others and k not in _NOT_IN_KEY}


def for_lab(cfg, method: str, *, rank: int | None = None, learning_rate: float | None = None,
            steps: int | None = None) -> dict[str, Any]:
    """Lab 05's hyperparameters of one run from its config: the same steps and batch for every method, LoRA
    alpha = ratio x rank, the soft-prompt length; `learning_rate` None means the method's default. Training is
    in bf16 mixed precision when the lab answers in bf16 (`dtype`, auto included: `llm.training_bf16`)."""
    from ..llm import training_bf16

    hp: dict[str, Any] = {"max_steps": steps or cfg.train_steps, "batch_size": cfg.train_batch_size,
                          "max_length": cfg.max_length, "seed": cfg.seed, "learning_rate": learning_rate,
                          "bf16": training_bf16(cfg.dtype)}
    if method == "lora":
        r = rank or Hyperparameters.lora_r
        hp.update(lora_r=r, lora_alpha=cfg.lora_alpha_ratio * r)
    if method == "prompt_tuning":
        hp.update(virtual_tokens=cfg.virtual_tokens)
    return hp

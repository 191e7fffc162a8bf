"""Preference training on the feedback: TRL's `DPOTrainer` (pairs) and `KTOTrainer` (thumbs), LoRA on the champion.

    result = train_preference("dpo", champion_folder, exports.dpo, PreferenceHyperparameters(max_steps=12))
    result.reward_accuracy, result.flagged        # did the model learn to prefer the chosen answers?
    llm = LLM(**result.llm_kwargs())              # the challenger: champion + the new adapter

The reference model is the champion itself: the LoRA adapter is trained on top of it, and with the adapter
switched off the model *is* the champion (TRL does this when it is given a `peft_config`: no second copy in
memory). A promoted challenger is merged into the weights (`tuning.merge.merge_lora`) and becomes the next
round's base, so each round's reference is the model that served the feedback.

A run whose reward accuracy never leaves 0.5 (the policy does not separate chosen from rejected) learned
nothing from the pairs; it is flagged loudly (smol-course users met this unnoticed). KTO has no pairs, so
its signal is the reward margin (desirable minus undesirable rewards); a margin that never turns positive
is flagged the same way.

Weights are cached like lab 05's (`tuning.cache`): the key hashes the champion's files, the data and the
hyperparameters, so a rerun loads instead of retraining and keeps the original train seconds.
"""
from __future__ import annotations

import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Mapping

from .. import __version__, models
from ..config import ParameterError, Param, check_value
from ..paths import atomic_folder
from ..tuning import cache as cache_mod
from ..tuning.hparams import LORA_TARGETS
from ..tuning.labelled_scoring import score_labelled_tokens_only
from ..tuning.train import TrainResult

METHODS = ("dpo", "kto")
# LoRA learns with a larger step than full-weight DPO (TRL's 1e-6 default is for full models and long runs)
# KTO at twice DPO's rate: at the start its loss moves each answer's log-ratio with slope beta/4, DPO's moves both
# answers of a pair with slope beta/2; at one rate a few KTO steps barely move (lab 06 measured a flat margin)
KTO_RATE_FACTOR = 2
DEFAULT_LEARNING_RATE = {"dpo": 2e-4, "kto": KTO_RATE_FACTOR * 2e-4}
FLAT_REWARD_ACCURACY = 0.55  # at most this on average over the last third of the steps: "stays at 0.5"


class PreferenceTrainingFlat(UserWarning):
    """A preference run that learned no preference (reward accuracy at chance, or no positive margin)."""


@dataclass(frozen=True)
class PreferenceHyperparameters:
    learning_rate: float | None = None  # None: DEFAULT_LEARNING_RATE[method]
    max_steps: int = 12
    batch_size: int = 4  # KTO needs more than 1: its KL term pairs each prompt with another row's answer
    beta: float = 0.1  # how far the policy may move from the reference (both losses)
    max_length: int = 512  # prompt + answer tokens; longer rows are cut at the end (keep RAG prompts short)
    lora_r: int = 8
    lora_alpha: int = 16
    seed: int = 0
    logging_steps: int = 1
    bf16: bool = False  # mixed precision (bf16 autocast, fp32 master weights): only where bf16 is native

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_SPECS = {
    "learning_rate": Param((float,), min=1e-8, max=1.0, nullable=True, help="optimizer step size"),
    "max_steps": Param((int,), min=1, max=10**6, help="optimizer steps"),
    "batch_size": Param((int,), min=2, max=4096, help="examples per step (KTO's KL term needs at least 2)"),
    "beta": Param((float,), min=1e-4, max=10.0, help="strength of the pull towards the reference model"),
    "max_length": Param((int,), min=16, max=131072, help="prompt + completion tokens"),
    "lora_r": Param((int,), min=1, max=4096, help="LoRA rank"),
    "lora_alpha": Param((int, float), min=1e-6, max=1e6, help="LoRA scaling numerator"),
    "seed": Param((int,), min=0, max=2**31 - 1, help="seed of the adapter init and data order"),
    "logging_steps": Param((int,), min=1, max=10**6, help="steps between logged rewards"),
    "bf16": Param((bool,), help="bf16 mixed precision (fp32 master weights); faster only on a CPU with native bf16"),
}


def check(method: str, hp: PreferenceHyperparameters | Mapping | None = None, **overrides) -> PreferenceHyperparameters:
    """Validated hyperparameters with the method's learning rate filled in; ParameterError names a bad one."""
    check_value("method", method, Param((str,), choices=METHODS, help="preference loss"))
    if isinstance(hp, Mapping):
        overrides, hp = {**hp, **overrides}, None
    hp = hp or PreferenceHyperparameters()
    unknown = sorted(set(overrides) - set(hp.as_dict()))
    if unknown:
        raise ParameterError(f"unknown hyperparameter(s) {unknown}; allowed: {sorted(hp.as_dict())}")
    hp = replace(hp, **overrides)
    for name, spec in _SPECS.items():
        check_value(name, getattr(hp, name), spec)
    return hp if hp.learning_rate is not None else replace(hp, learning_rate=DEFAULT_LEARNING_RATE[method])


class PreferenceResult(TrainResult):
    """A challenger: the champion's weights (`base_model`) plus a LoRA adapter trained on the feedback."""

    @property
    def reward_accuracy(self) -> float | None:
        return self.metrics.get("reward_accuracy")

    @property
    def flagged(self) -> bool:
        return bool(self.metrics.get("flagged"))

    def ledger_metrics(self) -> dict:
        keep = ("steps", "examples", "trainable_params", "trainable_share", "reward_accuracy", "reward_margin",
                "initial_loss", "final_loss", "flagged", "size_mb")
        return {**{k: self.metrics.get(k) for k in keep}, "from_cache": int(self.from_cache)}


def _trainer_class_and_config(method: str):
    from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer

    return (DPOTrainer, DPOConfig) if method == "dpo" else (KTOTrainer, KTOConfig)


def _config(method: str, hp: PreferenceHyperparameters, output_dir: str, progress: bool):
    import torch

    _, config_class = _trainer_class_and_config(method)
    return config_class(
        output_dir=output_dir, learning_rate=hp.learning_rate, max_steps=hp.max_steps,
        per_device_train_batch_size=hp.batch_size, beta=hp.beta, max_length=hp.max_length,
        seed=hp.seed, data_seed=hp.seed, logging_steps=hp.logging_steps, logging_first_step=True,
        bf16=hp.bf16, fp16=False,  # fp32 unless the CPU computes bf16 natively (see llm.resolve_dtype)
        activation_checkpointing=False,  # a 135M model does not need the memory; it costs ~30% compute
        save_strategy="no", eval_strategy="no", report_to="none", push_to_hub=False, disable_tqdm=not progress,
        use_cpu=not torch.cuda.is_available())


def _lora(hp: PreferenceHyperparameters):
    from peft import LoraConfig, TaskType

    return LoraConfig(task_type=TaskType.CAUSAL_LM, r=hp.lora_r, lora_alpha=hp.lora_alpha, lora_dropout=0.0,
                      target_modules=list(LORA_TARGETS), bias="none")


def reward_summary(method: str, log_history: list[dict]) -> dict:
    """Reward accuracy / margin over the run from the trainer's logs, and whether the run learned nothing."""
    steps = [h for h in log_history if "rewards/margins" in h]
    if not steps:
        return {"reward_accuracy": None, "reward_margin": None, "flagged": True,
                "flag_reason": "the trainer logged no rewards"}
    if len(steps) < 2:  # the first step's rewards are always 0 (LoRA starts as the identity): nothing to judge
        return {"reward_accuracy": steps[0].get("rewards/accuracies"), "reward_margin": steps[0]["rewards/margins"],
                "flagged": False, "flag_reason": "one logged step: too short to tell whether it learned"}
    tail = steps[-max(1, len(steps) // 3):]  # the last third of the run: where it ended up
    margin = sum(h["rewards/margins"] for h in tail) / len(tail)
    if method == "dpo":
        accuracy = sum(h["rewards/accuracies"] for h in tail) / len(tail)
        flat = accuracy <= FLAT_REWARD_ACCURACY
        reason = (f"reward accuracy {accuracy:.2f} over the last third of the run (chance is 0.5, flagged at "
                  f"<= {FLAT_REWARD_ACCURACY}): the policy does not prefer the chosen answers" if flat else "")
    else:
        accuracy = None
        flat = margin <= 0
        reason = ("the reward margin (desirable - undesirable) is not positive over the last third of the run: "
                  "the policy does not prefer the desirable answers" if flat else "")
    return {"reward_accuracy": None if accuracy is None else round(accuracy, 4), "reward_margin": round(margin, 5),
            "flagged": flat, "flag_reason": reason,
            "reward_curve": [(int(h["step"]), round(float(h["rewards/margins"]), 5),
                              None if method != "dpo" else round(float(h["rewards/accuracies"]), 4)) for h in steps]}


def cache_key(method: str, base_model: str, dataset, hp: PreferenceHyperparameters) -> str:
    base = models.resolve_llm(base_model)
    return cache_mod.make_key(method, str(base_model), cache_mod.model_identity(base.path),
                              cache_mod.data_fingerprint(dataset),
                              {k: v for k, v in hp.as_dict().items() if k != "logging_steps"})


def train_preference(method: str, base_model: str | Path, dataset, hp: PreferenceHyperparameters | Mapping | None = None,
                     *, cache: bool = True, progress: bool = True, what: str = "", **overrides) -> PreferenceResult:
    """Train a LoRA adapter on `base_model` (the champion) with DPO or KTO on `dataset` (TRL's format); cached."""
    hp = check(method, hp, **overrides)
    if len(dataset) == 0:
        raise ValueError(f"no {method.upper()} examples: the feedback gave nothing to train on")
    base_model = str(base_model)
    base = models.resolve_llm(base_model)
    key = cache_key(method, base_model, dataset, hp)
    folder, card = cache_mod.lookup(key, method=method.upper(), base_name=Path(base_model).name,
                                    what=what or "this feedback", use_cache=cache)
    if card is not None:
        return _finish(PreferenceResult(method, base_model, folder, key, True, card))
    from ..evaluate import PeakMemory, memory_metrics
    from ..tuning.train import _datasets_progress, _quiet_progress_callback, load_base, parameter_counts

    score_labelled_tokens_only()  # the log-probs of the answers only, not of the prompt tokens
    model, tokenizer = load_base(base.path)
    trainer_class, _ = _trainer_class_and_config(method)
    with tempfile.TemporaryDirectory(prefix="labsutil-pref-") as workdir, _datasets_progress(False):
        trainer = trainer_class(model=model, args=_config(method, hp, workdir, progress), train_dataset=dataset,
                                processing_class=tokenizer, peft_config=_lora(hp))
        kept = len(trainer.train_dataset)
        if kept < len(dataset):  # TRL drops, silently, rows whose prompt alone fills max_length
            message = (f"{len(dataset) - kept} of {len(dataset)} {method.upper()} examples have a prompt of "
                       f"max_length={hp.max_length} tokens or more and were dropped by TRL")
            if kept == 0:
                raise ValueError(message + ": nothing left to train on; raise max_length or shorten the prompts")
            print(f"note: {message}")
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        trainer.remove_callback(PrinterCallback)  # prints every log dict; the rewards are kept on the card
        if progress:
            trainer.remove_callback(ProgressCallback)
            trainer.add_callback(_quiet_progress_callback())
        trainable, total = parameter_counts(trainer.model)
        start = time.perf_counter()
        with PeakMemory() as memory:  # sampled during this run, not the process's lifetime peak
            output = trainer.train()
        seconds = time.perf_counter() - start
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        card = {
            "what": what, "method": method, "key": key, "base_model": base_model,
            "base_identity": cache_mod.model_identity(base.path),
            "data": {"fingerprint": cache_mod.data_fingerprint(dataset), "examples": len(dataset)},
            "hyperparameters": hp.as_dict(), "train_seconds": round(seconds, 3),
            "metrics": {"trainable_params": trainable, "total_params": total, "trainable_share": trainable / total,
                        **memory_metrics(memory), "steps": int(trainer.state.global_step),
                        "examples": kept, "dropped_too_long": len(dataset) - kept, "train_loss_mean": round(float(output.training_loss), 5),
                        "initial_loss": round(float(losses[0]), 5) if losses else None,
                        "final_loss": round(float(losses[-1]), 5) if losses else None,
                        **reward_summary(method, trainer.state.log_history)},
            "loss_curve": [(int(h["step"]), round(float(h["loss"]), 5)) for h in trainer.state.log_history
                           if "loss" in h],
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "labsutil_version": __version__,
        }
        with atomic_folder(folder) as tmp:
            trainer.accelerator.unwrap_model(trainer.model).save_pretrained(tmp, safe_serialization=True)
            card["metrics"]["size_mb"] = cache_mod.size_on_disk_mb(tmp)
            cache_mod.write_card(tmp, card)
    return _finish(PreferenceResult(method, base_model, folder, key, False, card))


def _finish(result: PreferenceResult) -> PreferenceResult:
    if result.flagged:
        message = (f"FLAGGED {result.method.upper()} run {result.key}: {result.metrics.get('flag_reason')}. "
                   "Check the data (are chosen and rejected different? enough pairs?), the learning rate and beta.")
        print("!" * 8, message)
        warnings.warn(message, PreferenceTrainingFlat, stacklevel=3)
    return result

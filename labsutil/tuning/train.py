"""One training entry for full fine-tuning, LoRA and prompt tuning, on TRL's `SFTTrainer`.

    result = train("lora", "smollm2-135m-instruct", data, {"lora_r": 8, "max_steps": 40})
    result.train_seconds, result.metrics["trainable_share"], result.loss_curve
    llm = result.load_llm()                 # labsutil.llm.LLM with the adapter on the base model

The data decides the loss. A prompt/completion dataset (`labsutil.tuning.recipes`) is trained with
completion-only loss: the labels of the prompt tokens are -100, so the model learns the answer, not the
question. A `text` dataset (raw documents) is plain next-token training on every token, packed into blocks
of `max_length` tokens.

The settings that differ from TRL's defaults are chosen for a CPU and written where they are set
(`_sft_config`): fp32, no gradient checkpointing, a learning rate per method, no reporting, no hub.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .. import __version__, models
from ..paths import atomic_folder
from . import cache as cache_mod
from .hparams import Hyperparameters, check, key_fields
from .labelled_scoring import score_labelled_tokens_only


@dataclass
class TrainResult:
    """A trained (or cache-loaded) model: where its weights are and what the training cost."""

    method: str
    base_model: str
    path: Path
    key: str
    from_cache: bool
    card: dict = field(repr=False)

    @property
    def train_seconds(self) -> float:
        """The seconds the original training took (also when this result was loaded from the cache)."""
        return self.card["train_seconds"]

    @property
    def metrics(self) -> dict:
        return self.card["metrics"]

    @property
    def loss_curve(self) -> list[tuple[int, float]]:
        return [tuple(point) for point in self.card["loss_curve"]]

    def llm_kwargs(self) -> dict:
        """Arguments of `labsutil.llm.LLM` that load this model: a full model folder, or the base plus an adapter."""
        if self.method == "full":
            return {"model": str(self.path)}
        return {"model": self.base_model, "adapter": str(self.path)}

    def load_llm(self, **kwargs):
        from ..llm import LLM

        return LLM(**{**self.llm_kwargs(), **kwargs})

    def ledger_metrics(self) -> dict:
        """The training numbers for a ledger row's `metrics` (design.md section 7b)."""
        keep = ("trainable_params", "total_params", "trainable_share", "size_mb", "initial_loss", "final_loss",
                "probe_rows", "steps", "examples")
        return {**{k: self.metrics[k] for k in keep}, "from_cache": int(self.from_cache),
                "train_state_mb": train_state_mb(self.metrics["trainable_params"])}

    def ledger_cost(self) -> dict:
        # cards from before 2026-12 hold the process's lifetime peak, not this run's: not reported as this run's
        per_run = self.metrics.get("peak_mem_scope") == "run"
        return {"train_seconds": round(self.train_seconds, 2),
                "peak_mem_mb": self.metrics["peak_mem_mb"] if per_run else None}


def train_state_mb(trainable_params: int) -> float:
    """What training holds per trainable weight, computed: its gradient and AdamW's two moments, 12 bytes in fp32
    (the measured peak memory also holds the model and whatever the process loaded before)."""
    return round(trainable_params * 12 / 2**20, 1)


# --------------------------------------------------------------------------- building blocks

def load_base(path: str | Path, *, dtype: str = "float32"):
    """Tokenizer and model from a safetensors folder (the default model's GGUF is converted to one)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
    return model, tokenizer


def peft_config(method: str, hp: Hyperparameters, tokenizer_path: str | Path):
    """The peft configuration of a method (None for full fine-tuning)."""
    from peft import LoraConfig, PromptTuningConfig, PromptTuningInit, TaskType

    if method == "lora":
        return LoraConfig(task_type=TaskType.CAUSAL_LM, r=hp.lora_r, lora_alpha=hp.lora_alpha,
                          lora_dropout=hp.lora_dropout, target_modules=list(hp.lora_targets), bias="none")
    if method == "prompt_tuning":
        # initialised from the embeddings of a task description (Lester et al.: better than random at small scale)
        return PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=hp.virtual_tokens,
                                  prompt_tuning_init=PromptTuningInit.TEXT, prompt_tuning_init_text=hp.prompt_init_text,
                                  tokenizer_name_or_path=str(tokenizer_path))
    return None


def is_language_modeling(dataset) -> bool:
    """A `text` dataset (raw documents) rather than prompt/completion examples."""
    return "prompt" not in dataset.column_names


# The loss before and after training is measured on the same first rows of the training data (in eval mode):
# the first logged step and the last logging window see different batches, too noisy to say "the loss fell"
# after a few steps. Raw documents are long (several packed blocks each), so fewer of them.
PROBE_ROWS = {"chat": 16, "text": 8}
PROBE_BATCH = 16  # no gradients in the probe: one big batch is cheaper than many training-sized ones


def probe_rows(train_dataset):
    """The rows whose loss is measured before and after training."""
    rows = PROBE_ROWS["text" if is_language_modeling(train_dataset) else "chat"]
    return train_dataset.select(range(min(rows, len(train_dataset))))


def _sft_config(hp: Hyperparameters, output_dir: str, language_modeling: bool, progress: bool):
    import torch
    from trl import SFTConfig

    return SFTConfig(
        output_dir=output_dir,
        learning_rate=hp.learning_rate,  # per method (hparams.DEFAULT_LEARNING_RATE); TRL's 2e-5 suits long full runs
        num_train_epochs=hp.epochs,
        max_steps=hp.max_steps or -1,
        per_device_train_batch_size=hp.batch_size,
        per_device_eval_batch_size=PROBE_BATCH,
        prediction_loss_only=True,  # the probe needs the loss only (no logits, no extra forward pass)
        gradient_accumulation_steps=hp.grad_accum,
        lr_scheduler_type=hp.lr_scheduler,
        warmup_steps=hp.warmup_ratio,  # transformers 5: a float below 1 is a share of the steps
        weight_decay=hp.weight_decay,
        seed=hp.seed,
        data_seed=hp.seed,
        bf16=hp.bf16,  # TRL turns bf16 on by default, even on a CPU: fp32 unless asked
        fp16=False,
        # TRL turns gradient checkpointing on by default: off unless asked (transformers 5 calls it activation_)
        activation_checkpointing=hp.gradient_checkpointing,
        max_length=hp.max_length,
        # raw documents: concatenated and cut into max_length blocks (classic causal-LM training); chat
        # examples stay whole so that the completion mask lines up
        packing=language_modeling,
        packing_strategy="wrapped",
        completion_only_loss=not language_modeling,  # prompt tokens get label -100
        logging_steps=hp.logging_steps,
        logging_first_step=True,  # the loss curve starts at the first step
        save_strategy="no",  # the cache saves the result once, atomically
        eval_strategy="no",  # the probe is evaluated before and after training only
        report_to="none",  # no wandb / tensorboard / telemetry
        push_to_hub=False,
        disable_tqdm=not progress,
        # Without CUDA, say "CPU" outright: under `accelerate launch --multi_gpu` / torchrun the processes then
        # form a gloo (MULTI_CPU) group instead of each training alone; it also stops pinning memory (a warning).
        use_cpu=not torch.cuda.is_available(),
    )


def _last_step_logged_callback():
    """Log the last step too, so that the final loss is the end of training, not the last multiple of
    `logging_steps`."""
    from transformers import TrainerCallback

    class LogLastStep(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= state.max_steps:
                control.should_log = True
            return control

    return LogLastStep()


def _quiet_progress_callback():
    """The Trainer's progress bar without its printed dict at every logging step (the loss curve is kept)."""
    from transformers.trainer_callback import ProgressCallback

    class QuietProgress(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            return None

    return QuietProgress


def prepare(method: str, base_path: str | Path, train_dataset, hp: Hyperparameters | Mapping | None = None, *,
            output_dir: str | None = None, progress: bool = True, eval_dataset=None):
    """An `SFTTrainer` ready to train (exposed so that tests and the lab can look at its data and parameters).

    `eval_dataset` (same format as the training data) is what `trainer.evaluate()` measures."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import SFTTrainer

    hp = check(method, hp)
    score_labelled_tokens_only()  # completion-only loss: the LM head projects the answer tokens, not the prompt
    model, tokenizer = load_base(base_path)
    language_modeling = is_language_modeling(train_dataset)
    output_dir = output_dir or tempfile.mkdtemp(prefix="labsutil-train-")
    with _datasets_progress(False):
        trainer = SFTTrainer(model=model, args=_sft_config(hp, output_dir, language_modeling, progress),
                             train_dataset=train_dataset, eval_dataset=eval_dataset, processing_class=tokenizer,
                             peft_config=peft_config(method, hp, base_path),
                             callbacks=[_last_step_logged_callback()])
    trainer.remove_callback(PrinterCallback)  # prints every log dict when there is no bar; the curve is kept
    if progress:
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(_quiet_progress_callback())
    return trainer


class _datasets_progress:
    """Hide the `datasets` map bars (tokenizing a few hundred rows) while the trainer prepares its data."""

    def __init__(self, show: bool):
        self.show = show

    def __enter__(self):
        from datasets.utils import logging as ds_logging

        self.was = ds_logging.is_progress_bar_enabled()
        (ds_logging.enable_progress_bar if self.show else ds_logging.disable_progress_bar)()

    def __exit__(self, *exc):
        from datasets.utils import logging as ds_logging

        (ds_logging.enable_progress_bar if self.was else ds_logging.disable_progress_bar)()


def parameter_counts(model) -> tuple[int, int]:
    """(trainable, total) parameters; a shared (tied) tensor counts once."""
    if hasattr(model, "get_nb_trainable_parameters"):  # a peft model counts its adapter and the base
        trainable, total = model.get_nb_trainable_parameters()
        return int(trainable), int(total)
    params = list(model.parameters())  # parameters() yields a tied tensor once
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def _loss_curve(log_history: list[dict]) -> list[tuple[int, float]]:
    return [(int(h["step"]), round(float(h["loss"]), 5)) for h in log_history if "loss" in h]


def save_weights(trainer, method: str, folder: str | Path) -> None:
    """Weights as safetensors: a whole model folder (with tokenizer) for full fine-tuning, else the peft adapter."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    model.save_pretrained(folder, safe_serialization=True)
    if method == "full":
        trainer.processing_class.save_pretrained(folder)


# --------------------------------------------------------------------------- the entry

def cache_key(method: str, base_model: str, train_dataset, hp: Hyperparameters | Mapping[str, Any] | None = None,
              **hp_overrides: Any) -> str:
    """The cache folder name of a run: base model (name and file bytes), data rows, the method's hyperparameters."""
    hp = check(method, hp, **hp_overrides)
    base = models.resolve_llm(base_model)
    return cache_mod.make_key(method, base_model, cache_mod.model_identity(base.path),
                              cache_mod.data_fingerprint(train_dataset), key_fields(method, hp))


def train(method: str, base_model: str, train_dataset, hp: Hyperparameters | Mapping[str, Any] | None = None, *,
          cache: bool = True, progress: bool = True, what: str = "", **hp_overrides: Any) -> TrainResult:
    """Train `base_model` on `train_dataset` with `method` ("full", "lora", "prompt_tuning"); cached by key.

    `hp`: a Hyperparameters or a dict of its fields (keyword overrides win). `cache=True`: a folder with the
    same key is loaded instead of training (said so, with the original train seconds); `cache=False` trains
    again and replaces it. `what` is a free description written on the card (e.g. the recipe).
    Bad hyperparameters raise `labsutil.config.ParameterError` before anything is loaded.
    """
    hp = check(method, hp, **hp_overrides)
    base = models.resolve_llm(base_model)
    data_fp = cache_mod.data_fingerprint(train_dataset)
    key = cache_key(method, base_model, train_dataset, hp)
    folder, card = cache_mod.lookup(key, method=method, base_name=base_model, what=what or "this data",
                                    use_cache=cache)
    if card is not None:
        return TrainResult(method, base_model, folder, key, True, card)

    from ..evaluate import PeakMemory, memory_metrics

    with tempfile.TemporaryDirectory(prefix="labsutil-train-") as workdir:
        probe = probe_rows(train_dataset)
        trainer = prepare(method, base.path, train_dataset, hp, output_dir=workdir, progress=progress,
                          eval_dataset=probe)
        trainable, total = parameter_counts(trainer.model)
        loss_before = trainer.evaluate()["eval_loss"]
        start = time.perf_counter()
        with PeakMemory() as memory:  # sampled during this run: the process's lifetime peak mixes earlier runs in
            output = trainer.train()
        seconds = time.perf_counter() - start
        loss_after = trainer.evaluate()["eval_loss"]
        curve = _loss_curve(trainer.state.log_history)
        card = {
            "what": what, "method": method, "key": key,
            "base_model": {"name": base_model, "path": str(base.path),
                           "identity": cache_mod.model_identity(base.path)},
            "data": {"fingerprint": data_fp, "examples": len(train_dataset),
                     "format": "text" if is_language_modeling(train_dataset) else "prompt-completion"},
            "hyperparameters": hp.as_dict(),
            "train_seconds": round(seconds, 3),
            "metrics": {
                "trainable_params": trainable, "total_params": total,
                "trainable_share": trainable / total if total else float("nan"),
                **memory_metrics(memory), "peak_mem_scope": "run",
                # the loss on the same probe rows (the first rows of the data) before and after training
                "initial_loss": round(float(loss_before), 5), "final_loss": round(float(loss_after), 5),
                "probe_rows": len(probe),
                "train_loss_mean": round(float(output.training_loss), 5),
                "steps": int(trainer.state.global_step), "examples": len(train_dataset),
                "processes": trainer.accelerator.num_processes,
            },
            "loss_curve": curve,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "labsutil_version": __version__,
        }
        if trainer.accelerator.is_main_process:  # one writer under `accelerate launch`
            with atomic_folder(folder) as tmp:
                save_weights(trainer, method, tmp)
                card["metrics"]["size_mb"] = cache_mod.size_on_disk_mb(tmp)
                cache_mod.write_card(tmp, card)
        trainer.accelerator.wait_for_everyone()  # the others read the card once it is in place
        card = cache_mod.read_card(folder) or card
    return TrainResult(method, base_model, folder, key, False, card)

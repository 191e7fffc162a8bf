"""Knowledge distillation of a half-depth student, and the student as a draft for speculative decoding.

The student keeps every other decoder layer of the teacher (DistilBERT's initialisation: Sanh et al. 2019) and
is trained on domain text with the teacher's next-token distributions as soft targets: the loss is
`alpha * KL(teacher || student) + (1 - alpha) * cross-entropy`, the KL term from TRL's own
`GKDTrainer.generalized_jsd_loss` (beta = 0 is the forward KL). `alpha = 0` trains the same student on the same
text without the teacher: the control that says what distillation itself adds.

Students are saved as safetensors model folders under `<cache>/adapters/<key>` (key: teacher files, text,
hyperparameters), so a rerun loads them and keeps the original training seconds.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .. import __version__
from ..paths import atomic_folder
from ..tuning import cache as cache_mod
from . import prune


@dataclass
class StudentResult:
    path: Path
    key: str
    from_cache: bool
    card: dict

    @property
    def train_seconds(self) -> float:
        return self.card["train_seconds"]

    @property
    def loss_curve(self) -> list[tuple[int, float]]:
        return [tuple(p) for p in self.card["loss_curve"]]


def half_student(teacher, every: int = 2):
    """A copy of the teacher keeping decoder layers 0, every, 2*every, ... (no training yet)."""
    n = teacher.config.num_hidden_layers
    return prune.keep_layers(teacher, list(range(0, n, every)))


def text_blocks(tokenizer, texts: Sequence[str], block_tokens: int) -> list[list[int]]:
    """The texts tokenized, joined with the end-of-sequence token and cut into equal blocks (the last partial one
    dropped): every training example is `block_tokens` long, so no padding is needed."""
    ids: list[int] = []
    for text in texts:
        ids.extend(tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id])
    return [ids[i:i + block_tokens] for i in range(0, len(ids) - block_tokens + 1, block_tokens)]


def kd_loss(student_logits, teacher_logits, labels, temperature: float = 1.0):
    """Mean forward KL(teacher || student) per predicted token (positions whose label is -100 left out)."""
    import warnings

    with warnings.catch_warnings():  # "trl.experimental is unstable": the loss function is all we use
        warnings.simplefilter("ignore")
        from trl.experimental.gkd import GKDTrainer
    return GKDTrainer.generalized_jsd_loss(student_logits, teacher_logits, labels=labels, beta=0.0,
                                           temperature=temperature, reduction="batchmean")


def _trainer_class():
    from transformers import Trainer

    class DistillTrainer(Trainer):
        """A Trainer whose loss mixes the teacher's soft targets with the usual next-token loss."""

        def __init__(self, *args, teacher=None, alpha: float = 1.0, temperature: float = 1.0, **kwargs):
            super().__init__(*args, **kwargs)
            self.teacher, self.alpha, self.temperature = teacher, alpha, temperature

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            import torch

            outputs = model(**inputs)
            loss = outputs.loss
            if self.alpha > 0:
                with torch.no_grad():
                    teacher_logits = self.teacher(input_ids=inputs["input_ids"]).logits
                # logits at position t predict token t+1: align them with the shifted labels
                shifted = inputs["labels"][:, 1:]
                kd = kd_loss(outputs.logits[:, :-1], teacher_logits[:, :-1], shifted, self.temperature)
                loss = self.alpha * kd + (1 - self.alpha) * loss
            return (loss, outputs) if return_outputs else loss

    return DistillTrainer


def train_student(teacher, tokenizer, teacher_identity: str, texts: Sequence[str], *, steps: int, batch_size: int,
                  learning_rate: float, block_tokens: int, alpha: float, temperature: float = 1.0, seed: int = 0,
                  what: str = "", cache: bool = True) -> StudentResult:
    """Train (or load) a half-depth student on the texts; `alpha` = weight of the distillation term."""
    from datasets import Dataset

    blocks = text_blocks(tokenizer, texts, block_tokens)
    if not blocks:
        raise ValueError(f"the texts give no block of {block_tokens} tokens: pass more text or lower block_tokens")
    data = Dataset.from_dict({"input_ids": blocks})
    hp = {"steps": steps, "batch_size": batch_size, "learning_rate": learning_rate, "block_tokens": block_tokens,
          "alpha": alpha, "temperature": temperature, "seed": seed, "layers": "every-other",
          "embeddings": "frozen"}
    method = "distill" if alpha > 0 else "student-lm"
    key = cache_mod.make_key(method, "teacher", teacher_identity, cache_mod.data_fingerprint(data), hp)
    folder, card = cache_mod.lookup(key, method=method, base_name="the half-depth student", what=what or "domain text",
                                    use_cache=cache)
    if card is not None:
        return StudentResult(folder, key, True, card)
    student = half_student(teacher)
    # the (tied) embeddings stay the teacher's: a quarter of the student's weights, and their gradient over a
    # 49k-token vocabulary is a large share of a step's time on a CPU
    student.get_input_embeddings().weight.requires_grad_(False)
    card = _fit(student, teacher.eval(), tokenizer, data, hp)
    card.update(what=what, method=method, key=key, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                labsutil_version=__version__, layers=student.config.num_hidden_layers,
                teacher_layers=teacher.config.num_hidden_layers)
    with atomic_folder(folder) as tmp:
        student.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        card["size_mb"] = cache_mod.size_on_disk_mb(tmp)
        cache_mod.write_card(tmp, card)
    return StudentResult(folder, key, False, card)


def _fit(student, teacher, tokenizer, data, hp: dict) -> dict:
    from transformers import DataCollatorForLanguageModeling, TrainingArguments

    with tempfile.TemporaryDirectory(prefix="labsutil-distill-") as workdir:
        args = TrainingArguments(
            output_dir=workdir, max_steps=hp["steps"], per_device_train_batch_size=hp["batch_size"],
            learning_rate=hp["learning_rate"], lr_scheduler_type="constant", warmup_steps=0,
            logging_steps=1, save_strategy="no", report_to=[], seed=hp["seed"], data_seed=hp["seed"],
            bf16=False, fp16=False,  # fp32 on a CPU (stack notes); no gradient checkpointing (the default)
            dataloader_num_workers=0, disable_tqdm=False, use_cpu=True)
        trainer = _trainer_class()(model=student, args=args, train_dataset=data, teacher=teacher,
                                   alpha=hp["alpha"], temperature=hp["temperature"],
                                   data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False))
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    curve = [(int(h["step"]), round(float(h["loss"]), 5)) for h in trainer.state.log_history if "loss" in h]
    return {"train_seconds": round(seconds, 3), "hyperparameters": hp, "loss_curve": curve,
            "examples": len(data), "initial_loss": curve[0][1] if curve else None,
            "final_loss": curve[-1][1] if curve else None}


def _windows(tokenizer, pairs: Sequence[tuple[str, str]], max_tokens: int):
    """Each (prefix, text) pair as input ids and the slice of logits that predict the text."""
    import torch

    for prefix, text in pairs:
        head = tokenizer(prefix, add_special_tokens=False)["input_ids"]
        tail = tokenizer(text, add_special_tokens=False)["input_ids"]
        if not tail:
            continue
        ids = torch.tensor([(head + tail)[-max_tokens:]])
        n_tail = min(len(tail), ids.shape[1] - 1)
        yield ids, slice(ids.shape[1] - n_tail - 1, ids.shape[1] - 1)


def greedy_next_tokens(model, tokenizer, pairs: Sequence[tuple[str, str]], max_tokens: int = 1024) -> list:
    """The model's greedy next token at every position of each pair's continuation (one tensor per pair)."""
    import torch

    with torch.inference_mode():
        return [model(input_ids=ids).logits[0, window].argmax(-1) for ids, window in
                _windows(tokenizer, pairs, max_tokens)]


def next_token_agreement(teacher, draft, tokenizer, pairs: Sequence[tuple[str, str]], max_tokens: int = 1024, *,
                         teacher_tokens: list | None = None) -> dict:
    """How often the draft's greedy next token equals the teacher's on the continuation of each (prefix, text) pair.

    With the teacher's own greedy answers as continuations this is the per-token acceptance rate of greedy
    speculative decoding: a drafted token is kept exactly when the teacher would have chosen it. Only the
    continuation's positions count (predicting the prompt is not what a draft does). `teacher_tokens` (from
    `greedy_next_tokens`) spares recomputing the teacher for every draft. Returns the agreement (share), the
    positions compared and how many agreed.
    """
    if teacher_tokens is None:
        teacher_tokens = greedy_next_tokens(teacher, tokenizer, pairs, max_tokens)
    drafted = greedy_next_tokens(draft, tokenizer, pairs, max_tokens)
    if len(drafted) != len(teacher_tokens) or any(t.shape != d.shape for t, d in zip(teacher_tokens, drafted)):
        raise ValueError("teacher_tokens come from other pairs (or another max_tokens) than the draft's")
    agree = sum(int((t == d).sum()) for t, d in zip(teacher_tokens, drafted))
    total = sum(int(t.numel()) for t in teacher_tokens)
    rate = agree / total if total else float("nan")
    return {"agreement": rate, "positions": total, "agree": agree}


def expected_tokens_per_call(rate: float, k: int) -> float:
    """Leviathan et al.'s expected tokens per target call with k drafted tokens at acceptance rate `rate`."""
    if rate >= 1:
        return float(k + 1)
    return (1 - rate ** (k + 1)) / (1 - rate)


def expected_speedup(rate: float, cost_ratio: float, k: int) -> float:
    """Leviathan et al.'s expected wall-time speed-up of speculative decoding: k drafted tokens per teacher call at
    acceptance `rate`, a draft step costing `cost_ratio` of a teacher step: E[tokens per call] / (1 + k * c)."""
    return expected_tokens_per_call(rate, k) / (1 + k * cost_ratio)


def best_draft_length(rate: float, cost_ratio: float, max_k: int = 10) -> tuple[int, float]:
    """(k, speed-up) with the highest expected speed-up for k = 1..max_k."""
    return max(((k, expected_speedup(rate, cost_ratio, k)) for k in range(1, max_k + 1)), key=lambda t: t[1])

"""Score only the labelled tokens in TRL's fused LM head on a CPU (half the step time on RAG-length prompts).

TRL 1.x computes every trainer's loss (SFT, DPO, KTO) through a fused, vocabulary-chunked LM head. On CUDA
it projects only the positions that carry a label; on any other device it projects every position and masks
the result afterwards, so that the tile shapes stay fixed for compilers that recompile per shape (its
comment names Neuron). A CPU running eager torch recompiles nothing, and completion-only training labels few
positions: lab 07's RAFT examples label ~6 of ~480 tokens, so the head spent half of every step on vocabulary
projections (49,152 columns) that the mask then threw away. Measured on the 2-core CPU, a LoRA step on 4 such
examples in bf16: 12.2 s -> 5.8 s, the same losses to 5 decimals. The loss, its gradient and TRL's logged
metrics (entropy, token accuracy) are those of the labelled positions either way; `tests/test_tuning.py`
checks that against TRL's own all-position path.
"""
from __future__ import annotations

_PATCHED_ATTRIBUTE = "_use_triton"  # trl.trainer.utils decides `compact = _use_triton(device)` with it


def score_labelled_tokens_only() -> bool:
    """Make TRL project only labelled positions on every device; returns whether TRL has the switch.

    Idempotent. Only `trl.trainer.utils`'s binding changes (its one use is that decision); the kernels keep
    their own check for whether Triton can run on the device.
    """
    from trl.trainer import utils as trl_utils

    current = getattr(trl_utils, _PATCHED_ATTRIBUTE, None)
    if current is None:  # another TRL version: keep its behaviour (correct, only slower on a CPU)
        return False
    if getattr(current, "labsutil_original", None) is None:
        def labelled_only(device) -> bool:
            return True

        labelled_only.labsutil_original = current
        setattr(trl_utils, _PATCHED_ATTRIBUTE, labelled_only)
    return True


def restore_trl_default() -> None:
    """Undo `score_labelled_tokens_only` (tests compare both paths)."""
    from trl.trainer import utils as trl_utils

    current = getattr(trl_utils, _PATCHED_ATTRIBUTE, None)
    original = getattr(current, "labsutil_original", None)
    if original is not None:
        setattr(trl_utils, _PATCHED_ATTRIBUTE, original)

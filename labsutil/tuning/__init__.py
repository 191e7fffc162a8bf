"""Lab 05 (and 07): changing the model's weights, measured.

What this part teaches, in code a reader can follow:

- `recipes`: the same documents as four kinds of training data (raw text; facts stated once; facts plus k
  paraphrases; question/answer pairs), and which questions then test trained and untrained knowledge;
- `train`: one entry, `train(method, base_model, data, hp)`, for full fine-tuning, LoRA (peft `LoraConfig`)
  and prompt tuning (peft `PromptTuningConfig`) on TRL's `SFTTrainer` with completion-only loss, with the
  settings that are right on a CPU written where they are set; every run reports trainable parameters and
  their share, train seconds, peak memory, size on disk and its loss curve;
- `cache`: trained weights as safetensors under `.cache/adapters/<key>` with a JSON card; the same base
  model, data and hyperparameters load instead of retraining;
- `merge`: a LoRA adapter folded into the base weights (`merge_and_unload`): the same outputs, no adapter
  at inference;
- `hparams`: per-method defaults and validation that names a bad value;
- `cli`: `python -m labsutil train ...`, the same training as a script, also under `accelerate launch`.
"""
from .hparams import DEFAULT_LEARNING_RATE, METHODS, Hyperparameters
from .merge import merge_lora

# `train` stays the module (`from labsutil.tuning import train; train.train(...)`): exporting the function
# under the same name would hide the module.
__all__ = ["DEFAULT_LEARNING_RATE", "METHODS", "Hyperparameters", "merge_lora"]

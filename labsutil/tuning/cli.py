"""`python -m labsutil train`: the lab's training as a script, on one process or under `accelerate launch`.

    python -m labsutil train --method lora --recipe facts --paraphrases 3 --max-steps 40
    accelerate launch --multi_gpu --num_processes 2 -m labsutil train --method full --recipe qa   # 2 GPUs
    accelerate launch --multi_gpu --num_processes 2 -m labsutil train ...    # no GPU: 2 CPU processes (gloo)

`accelerate launch --cpu --num_processes 2` starts ONE process (accelerate 1.15 starts several CPU processes
only through mpirun with `--mpirun_hostfile`); the torchrun launcher behind `--multi_gpu` starts two, and on a
machine without CUDA the training sets `use_cpu`, so they join a gloo group (`torchrun --nproc_per_node 2 -m
labsutil train ...` does the same).

It picks the documents as lab 05 does (`recipes.pick_documents`), builds the recipe's data, trains (or loads
the cached result) and prints where the weights are. Every process trains its share of each batch (data
parallel); only the main process writes the cache folder and the `--json` summary.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..config import ParameterError
from . import recipes
from .hparams import METHODS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m labsutil train",
                                description="Fine-tune a model on a course dataset (lab 05's training as a script).")
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument("--recipe", default="facts", choices=recipes.RECIPES)
    p.add_argument("--paraphrases", type=int, default=0, help="facts recipe: paraphrases per fact (0: stated once)")
    p.add_argument("--dataset", default="contracts", help="dataset folder (default data/contracts)")
    p.add_argument("--model", default="smollm2-135m-instruct", help="base model: course short name, folder or HF id")
    p.add_argument("--min-test-questions", type=int, default=60,
                   help="train on enough documents that this many test questions are about them")
    p.add_argument("--question-types", default=",".join(recipes.DEFAULT_TYPES),
                   help="comma-separated question types that count (default single_hop)")
    p.add_argument("--fact-scope", default="question", choices=("question", "document"),
                   help="facts recipe: only facts stating a test answer, or every fact of the documents")
    p.add_argument("--seed", type=int, default=0, help="seed of the document choice and of training")
    hp = p.add_argument_group("hyperparameters (default: labsutil.tuning.hparams)")
    hp.add_argument("--lr", dest="learning_rate", type=float)
    hp.add_argument("--epochs", type=float)
    hp.add_argument("--max-steps", type=int)
    hp.add_argument("--batch-size", type=int)
    hp.add_argument("--grad-accum", type=int)
    hp.add_argument("--max-length", type=int)
    hp.add_argument("--lora-r", type=int)
    hp.add_argument("--lora-alpha", type=float)
    hp.add_argument("--lora-dropout", type=float)
    hp.add_argument("--lora-targets", help="comma-separated module names")
    hp.add_argument("--virtual-tokens", type=int)
    hp.add_argument("--logging-steps", type=int)
    hp.add_argument("--bf16", action="store_true", default=None, help="bfloat16 mixed precision (default fp32)")
    hp.add_argument("--gradient-checkpointing", action="store_true", default=None)
    p.add_argument("--no-cache", action="store_true", help="train even when the cache has this run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", type=Path, help="write the run's card (metrics, loss curve, path) to this file")
    return p


_HP_ARGS = ("learning_rate", "epochs", "max_steps", "batch_size", "grad_accum", "max_length", "lora_r", "lora_alpha",
            "lora_dropout", "lora_targets", "virtual_tokens", "logging_steps", "bf16", "gradient_checkpointing")


def build_data(args):
    """(documents, evaluation questions, training dataset or None) for the arguments."""
    from ..data import load_dataset

    ds = load_dataset(args.dataset)
    types = [t for t in args.question_types.split(",") if t]
    doc_ids = recipes.pick_documents(ds, args.min_test_questions, seed=args.seed, types=types)
    sets = recipes.question_sets(ds, doc_ids, types=types)
    focus = sets.trained if args.fact_scope == "question" else None
    data = recipes.build(args.recipe, ds, doc_ids, paraphrases=args.paraphrases, questions=focus,
                         exclude=sets.trained + sets.untrained)
    return ds, doc_ids, sets, data


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    hp = {name: getattr(args, name) for name in _HP_ARGS if getattr(args, name) is not None}
    hp.setdefault("seed", args.seed)
    try:
        from .hparams import check

        check(args.method, hp)  # a bad value stops here, before any data or model is loaded
        ds, doc_ids, sets, data = build_data(args)
    except ParameterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    what = recipes.describe(args.recipe, args.paraphrases)
    if data is None:
        print(f"note: dataset {ds.name} cannot make the {what!r} recipe (no facts.jsonl, or no examples about "
              f"the chosen documents); nothing trained")
        return 1
    from .train import train

    result = train(args.method, args.model, data, hp, cache=not args.no_cache, progress=not args.no_progress,
                   what=f"{what} on {len(doc_ids)} documents of {ds.name}")
    from accelerate import PartialState

    state = PartialState()
    m = result.metrics
    if state.is_main_process:
        print(f"{args.method} / {what}: {len(data)} examples from {len(doc_ids)} documents "
              f"({len(sets.trained)} test questions about them); {m['steps']} steps in {result.train_seconds:.1f} s"
              f"{' (cached)' if result.from_cache else ''}; loss {m['initial_loss']} -> {m['final_loss']}; "
              f"trainable {m['trainable_params']:,} ({100 * m['trainable_share']:.3f}%); {m['size_mb']} MB")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({**result.card, "path": str(result.path), "from_cache": result.from_cache},
                                            indent=2) + "\n")
    backend = f" ({state.backend})" if state.num_processes > 1 else ""
    print(f"process {state.process_index + 1}/{state.num_processes}{backend} finished: {result.path}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Command line: `python -m labsutil <command>`.

  run            execute the labs with papermill into runs/<run-id>/
  provision      make the default models ready offline (converts the LLM once)
  build-data     regenerate the course dataset from its seed
  validate-data  check a dataset folder against the data contract
  check-data     measure the default model on a dataset (closed book, control set, gold document)
  train          fine-tune (full, LoRA, prompt tuning) on a recipe of lab 05; runs under `accelerate launch`
"""
from __future__ import annotations

import argparse
import sys


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m labsutil run", description="Execute the labs in order.")
    parser.add_argument("--profile", default="workshop", choices=("smoke", "workshop", "gpu"))
    parser.add_argument("--labs", nargs="*", help="lab numbers or name prefixes, e.g. 00 03 (default: all)")
    parser.add_argument("--params", help="YAML file of parameters (top level: all labs; under '03': that lab)")
    parser.add_argument("--run-id", help="name of the run folder under runs/ (default: timestamp-profile)")
    parser.add_argument("--runs-dir", help="where run folders go (default: runs/ in the checkout)")
    args = parser.parse_args(argv)
    from .runner import run_labs

    run_dir, results = run_labs(args.profile, args.labs, args.params, args.run_id, runs_root=args.runs_dir)
    failed = [r.notebook for r in results if r.status != "ok"]
    print(f"\nReport: {run_dir / 'index.html'}\nLedger: {run_dir / 'ledger.jsonl'}")
    if failed:
        print(f"FAILED lab(s): {', '.join(failed)} (see the executed notebooks in {run_dir})", file=sys.stderr)
        return 1
    print(f"All {len(results)} lab(s) passed.")
    return 0


def _provision(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m labsutil provision",
                                     description="Make models ready for offline use.")
    parser.add_argument("--model", default=None, help="also fetch/resolve this LLM (a HF id needs LABS_ONLINE=1)")
    args = parser.parse_args(argv)
    from . import models

    llm = models.resolve_llm(models.SMOLLM2)
    how = f"converted in {llm.seconds:.1f} s" if llm.source == "converted-now" else "already converted"
    print(f"LLM {llm.name}: {llm.path} ({how})")
    emb = models.resolve_embedder(models.MINILM)
    print(f"embedder {emb.name}: {emb.path}")
    if args.model:
        extra = models.resolve_llm(args.model)
        print(f"LLM {extra.name}: {extra.path} ({extra.source})")
    return 0


def _delegate(module: str) -> "callable":
    def call(argv: list[str]) -> int:
        import importlib

        return importlib.import_module(module).main(argv)
    return call


COMMANDS = {
    "run": _run,
    "provision": _provision,
    "build-data": _delegate("labsutil.datagen"),
    "validate-data": _delegate("labsutil.data"),
    "check-data": _delegate("labsutil.datacheck"),
    "train": _delegate("labsutil.tuning.cli"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__)
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    from .models import ModelNotAvailable

    try:
        return int(COMMANDS[argv[0]](argv[1:]) or 0)
    except ModelNotAvailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

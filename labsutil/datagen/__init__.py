"""Deterministic, seeded generator of the course dataset (design.md section 6).

`python -m labsutil build-data --seed 0 --out data/contracts` writes a fictional world of
companies, agreements between them, amendments and news, with questions, gold triples,
facts with paraphrases and prompting-task data; and the general-knowledge control set
in the sibling folder `control/`. The same seed gives byte-identical files.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _default_out() -> Path:
    from ..paths import data_dir
    return data_dir() / "contracts"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labsutil build-data",
                                     description="Generate the fictional contracts dataset and the control set.")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0: the shipped data)")
    parser.add_argument("--out", type=Path, default=None, help="dataset folder (default data/contracts)")
    parser.add_argument("--control-out", type=Path, default=None,
                        help="control-set folder (default: control/ next to --out)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    from .build import build

    out = args.out or _default_out()
    control_out = args.control_out or out.parent / "control"
    start = time.perf_counter()
    counts = build(args.seed, out, control_out)
    for name, n in counts.items():
        print(f"{name}: {n} rows")
    print(f"wrote {out} and {control_out} (seed {args.seed}) in {time.perf_counter() - start:.1f} s")
    return 0


__all__ = ["main"]

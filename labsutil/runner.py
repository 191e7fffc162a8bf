"""Execute the labs in order with papermill into `runs/<run-id>/`.

Each run folder holds the executed notebooks, `ledger.jsonl`, `plots/`, an offline HTML
export of each notebook under `html/`, and `index.html` (labsutil.report: each lab,
its status, duration, headline results and plots). `runs/latest` points at the newest run.
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import htmlexport, paths
from .report import write_index

LAB_PATTERN = re.compile(r"^(\d\d)_.+\.ipynb$")


@dataclass
class LabResult:
    lab: str
    notebook: str
    status: str = "pending"  # ok, failed
    seconds: float = 0.0
    error: str = ""
    html: str = ""
    plots: list[str] = field(default_factory=list)


def discover(labs_dir: Path, only: list[str] | None = None) -> list[Path]:
    """The numbered lab notebooks, in order; `only` keeps those whose number or name starts with an entry."""
    found = sorted(p for p in labs_dir.iterdir() if LAB_PATTERN.match(p.name))
    if only:
        wanted = [str(o).zfill(2) if str(o).isdigit() else str(o) for o in only]
        chosen = [p for p in found if any(p.name.startswith(w) for w in wanted)]
        missing = [w for w in wanted if not any(p.name.startswith(w) for p in found)]
        if missing:
            names = ", ".join(p.name for p in found)
            raise SystemExit(f"no lab matches {missing}; the labs are: {names}")
        return chosen
    return found


def load_params(file: str | Path | None) -> tuple[dict, dict[str, dict]]:
    """A YAML file: top-level values go to every lab; a mapping under a lab number ("03") to that lab only."""
    if not file:
        return {}, {}
    import yaml

    data = yaml.safe_load(Path(file).read_text()) or {}
    if not isinstance(data, dict):
        raise SystemExit(f"{file}: expected a mapping of parameter -> value")
    common = {k: v for k, v in data.items() if not (str(k)[:2].isdigit() and isinstance(v, dict))}
    per_lab = {str(k)[:2]: v for k, v in data.items() if str(k)[:2].isdigit() and isinstance(v, dict)}
    return common, per_lab


def check_known_params(lab: str, given: dict) -> None:
    """Refuse parameters the lab does not declare (papermill would only log a warning and inject them)."""
    from .profiles import lab_params

    unknown = sorted(set(given) - set(lab_params(lab)))
    if unknown:
        raise SystemExit(f"unknown parameter(s) {unknown} for lab {lab}; allowed: {sorted(lab_params(lab))}")


def _point_latest(run_dir: Path) -> None:
    latest = run_dir.parent / "latest"
    tmp = run_dir.parent / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, latest)  # atomic swap of the link


def run_labs(profile: str = "workshop", labs: list[str] | None = None, params_file: str | None = None,
             run_id: str | None = None, labs_dir: Path | None = None, runs_root: Path | None = None,
             timeout_per_cell: int | None = None) -> tuple[Path, list[LabResult]]:
    import papermill as pm
    from tqdm.auto import tqdm

    root = paths.repo_root() or Path.cwd()
    labs_dir = Path(labs_dir or root / "labs").resolve()
    notebooks = discover(labs_dir, labs)
    common, per_lab = load_params(params_file)
    run_id = run_id or f"{time.strftime('%Y%m%d-%H%M%S')}-{profile}"
    run_dir = Path(runs_root or paths.runs_dir()).resolve() / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    os.environ["LABS_RUN_DIR"] = str(run_dir)
    results = [LabResult(lab=nb.name[:2], notebook=nb.name) for nb in notebooks]
    for result in results:  # a typo in a params file stops the run before any lab starts
        check_known_params(result.lab, {**common, **per_lab.get(result.lab, {})})
    print(f"Running {len(notebooks)} lab(s) in the {profile!r} profile into {run_dir}")
    bar = tqdm(results, desc="labs", unit="lab")
    for nb, result in zip(notebooks, bar):
        bar.set_postfix_str(nb.name)
        parameters = {**common, **per_lab.get(result.lab, {}), "profile": profile, "run_dir": str(run_dir)}
        start = time.perf_counter()
        out_nb = run_dir / nb.name
        try:
            pm.execute_notebook(str(nb), str(out_nb), parameters=parameters, cwd=str(labs_dir),
                                progress_bar=True, kernel_name="python3", execution_timeout=timeout_per_cell)
            result.status = "ok"
        except Exception as err:  # papermill wraps the cell's error; keep going with the next lab
            result.status = "failed"
            result.error = f"{getattr(err, 'ename', type(err).__name__)}: {getattr(err, 'evalue', err)}"
            tqdm.write(f"  {nb.name} FAILED: {result.error[:500]}")
        result.seconds = round(time.perf_counter() - start, 1)
        if out_nb.exists():
            try:
                htmlexport.export_notebook(out_nb, run_dir / "html" / f"{nb.stem}.html")
                result.html = f"html/{nb.stem}.html"
            except Exception as err:  # a report problem must not hide the lab's own status
                tqdm.write(f"  could not export {nb.name} to HTML: {err}")
        result.plots = sorted(str(p.relative_to(run_dir)) for p in (run_dir / "plots").glob(f"{result.lab}_*.png"))
        tqdm.write(f"  {nb.name}: {result.status} in {result.seconds:.0f} s")
    bar.close()
    write_index(run_dir, profile, results)
    (run_dir / "summary.json").write_text(json.dumps([r.__dict__ for r in results], indent=2))
    _point_latest(run_dir)
    return run_dir, results

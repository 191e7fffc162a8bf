"""Execute the labs in order with papermill into `runs/<run-id>/`.

Each run folder holds the executed notebooks, `ledger.jsonl`, `plots/`, an HTML
export of each notebook under `html/`, and `index.html` (each lab, its status,
duration and headline results). `runs/latest` points at the newest run.
"""
from __future__ import annotations

import html
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import ledger, paths

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


def _export_html(notebook: Path, out: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")


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
                _export_html(out_nb, run_dir / "html" / f"{nb.stem}.html")
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


def _headline_table(run_dir: Path, lab: str) -> str:
    rows = ledger.read(run_dir, lab=lab)
    if not rows:
        return "<em>no ledger rows</em>"
    metrics = list(dict.fromkeys(k for r in rows for k in r["metrics"]))[:6]
    head = "".join(f"<th>{html.escape(m)}</th>" for m in ["variant", *metrics])
    body = []
    for r in rows:
        cells = [html.escape(r["variant"])]
        for m in metrics:
            v = r["metrics"].get(m)
            cells.append("" if v is None else (f"{v:.3g}" if isinstance(v, float) else html.escape(str(v))))
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table class='inner'><tr>{head}</tr>{''.join(body)}</table>"


def write_index(run_dir: Path, profile: str, results: list[LabResult]) -> Path:
    rows = []
    for r in results:
        link = f"<a href='{r.html}'>{html.escape(r.notebook)}</a>" if r.html else html.escape(r.notebook)
        plots = " ".join(f"<a href='{p}'><img src='{p}' height='90'></a>" for p in r.plots)
        status = r.status if r.status == "ok" else f"{r.status}<br><small>{html.escape(r.error[:300])}</small>"
        rows.append(f"<tr class='{r.status}'><td>{link}</td><td>{status}</td><td>{r.seconds:.0f} s</td>"
                    f"<td>{_headline_table(run_dir, r.lab)}</td><td>{plots}</td></tr>")
    page = f"""<!doctype html><html><head><meta charset='utf-8'><title>Lab run {run_dir.name}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}} tr.failed{{background:#fdd}}
table.inner td,table.inner th{{font-size:85%;border-color:#eee}}</style></head><body>
<h1>Lab run {html.escape(run_dir.name)}</h1><p>Profile <b>{html.escape(profile)}</b>;
{sum(r.status == 'ok' for r in results)} of {len(results)} labs passed; results ledger:
<a href='{ledger.LEDGER_FILE}'>{ledger.LEDGER_FILE}</a>.</p>
<table><tr><th>lab</th><th>status</th><th>duration</th><th>headline results</th><th>plots</th></tr>
{''.join(rows)}</table></body></html>"""
    path = run_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path

"""The run report (`runs/<id>/index.html`) and what a lab's headline numbers are.

`headline_table` decides which ledger rows and metrics headline a lab: the rows that carry a 95%
interval (design.md section 7: `n`, `ci_low`, `ci_high` beside the row's headline proportion, or
`X_ci_low` / `X_ci_high` for another metric X), else every row with its first few metrics. The
report and the slide decks (labsutil.slides) both call it, so they always show the same numbers.
The report is one offline page (no scripts, no remote stylesheets) that reads on a phone and a laptop.
"""
from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from . import ledger

CI_LOW, CI_HIGH = "ci_low", "ci_high"
MAX_METRICS = 6


@dataclass(frozen=True)
class Measure:
    """One measured number, with its 95% interval and n when the ledger has them."""
    value: float | int | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None

    @property
    def has_interval(self) -> bool:
        return self.ci_low is not None and self.ci_high is not None

    def text(self, row_n: int | None = None) -> str:
        """`0.75 [0.61, 0.86]`; the n is added only when it differs from the row's n."""
        if self.value is None:
            return ""
        out = _number(self.value)
        if self.has_interval:
            out += f" [{_number(self.ci_low)}, {_number(self.ci_high)}]"
        if self.n is not None and self.n != row_n:
            out += f" (n = {_number(self.n)})"
        return out


@dataclass(frozen=True)
class HeadlineRow:
    variant: str
    n: int | None
    measures: dict[str, Measure]


@dataclass(frozen=True)
class HeadlineTable:
    lab: str
    metrics: list[str]
    rows: list[HeadlineRow]
    with_intervals: bool

    def html(self, max_rows: int | None = None, css_class: str = "headline") -> str:
        """An HTML table: one row per variant, a column per metric, and n when the rows have one."""
        shown = self.rows if max_rows is None else self.rows[:max_rows]
        with_n = any(r.n is not None for r in shown)
        head = ["variant", *self.metrics, *(["n"] if with_n else [])]
        lines = ["<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
        for row in shown:
            cells = [html.escape(row.variant)]
            cells += [html.escape(row.measures[m].text(row.n)) if m in row.measures else "" for m in self.metrics]
            cells += [_number(row.n) if row.n is not None else ""] if with_n else []
            lines.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        return f"<table class='{css_class}'>{''.join(lines)}</table>"


def _number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return html.escape(str(value))
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float) and abs(value) >= 1000:  # tokens, seconds: no exponent
        return f"{value:.0f}"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _interval_fields(metrics: dict) -> set[str]:
    """Keys that describe another metric's uncertainty rather than being a result themselves."""
    fields = {"n", CI_LOW, CI_HIGH}
    for key in metrics:
        for suffix in ("_" + CI_LOW, "_" + CI_HIGH):
            if key.endswith(suffix):
                fields |= {key, key[: -len(suffix)] + "_n"}
    return fields & set(metrics)


def _row_headline_metric(metrics: dict) -> str | None:
    """The metric that a row's plain `ci_low`/`ci_high` belong to (the ledger convention, `labsutil.stats`)."""
    from .stats import headline_name

    low, high = metrics.get(CI_LOW), metrics.get(CI_HIGH)
    if not (_is_number(low) and _is_number(high)):
        return None
    name = headline_name(metrics)
    return name if name is not None and _is_number(metrics.get(name)) else None


def interval_measures(metrics: dict) -> dict[str, Measure]:
    """The metrics of one ledger row that carry a 95% interval, each with its interval and n."""
    found = {}
    main = _row_headline_metric(metrics)
    if main is not None:
        found[main] = Measure(metrics[main], metrics[CI_LOW], metrics[CI_HIGH], metrics.get("n"))
    for key in metrics:
        if key.endswith("_" + CI_LOW):
            name = key[: -len("_" + CI_LOW)]
            low, high = metrics.get(key), metrics.get(f"{name}_{CI_HIGH}")
            if name in metrics and _is_number(low) and _is_number(high):
                found[name] = Measure(metrics[name], low, high, metrics.get(f"{name}_n", metrics.get("n")))
    return found


def _row_n(metrics: dict) -> int | None:
    n = metrics.get("n")
    return n if _is_number(n) else None


def headline_table(rows: Iterable[dict], lab: str = "", max_metrics: int = MAX_METRICS) -> HeadlineTable:
    """A lab's headline: the ledger rows with 95% intervals and their interval metrics; if no row has one,
    every row with its first `max_metrics` metrics (as measured, without intervals)."""
    rows = list(rows)
    with_ci = [(r, interval_measures(r["metrics"])) for r in rows]
    with_ci = [(r, found) for r, found in with_ci if found]
    if with_ci:
        metrics = list(dict.fromkeys(m for _, found in with_ci for m in found))[:max_metrics]
        table = [HeadlineRow(r["variant"], _row_n(r["metrics"]), {m: found[m] for m in metrics if m in found})
                 for r, found in with_ci]
        return HeadlineTable(lab, metrics, table, with_intervals=True)
    metrics = list(dict.fromkeys(k for r in rows for k in r["metrics"]
                                 if k not in _interval_fields(r["metrics"])))[:max_metrics]
    table = [HeadlineRow(r["variant"], _row_n(r["metrics"]),
                         {m: Measure(r["metrics"][m]) for m in metrics if m in r["metrics"]}) for r in rows]
    return HeadlineTable(lab, metrics, table, with_intervals=False)


def lab_headline(run_dir: str | Path, lab: str, max_metrics: int = MAX_METRICS) -> HeadlineTable:
    return headline_table(ledger.read(run_dir, lab=lab), lab, max_metrics)


def interval_note(table: HeadlineTable) -> str:
    if table.with_intervals:
        return "Brackets: 95% interval; n: evaluated items."
    return "No interval recorded for these rows: single measurements."


def roi_summary(run_dir: str | Path):
    """`labsutil.roi.report_summary(run_dir)` (a DataFrame, or None) where lab 09's code provides it.

    Returns (frame or None, error text or None): a missing module is normal before lab 09 exists;
    any other failure is reported on the page rather than hiding the rest of the report."""
    import importlib

    try:
        roi = importlib.import_module("labsutil.roi")
    except ModuleNotFoundError as err:
        if err.name in ("labsutil.roi", "labsutil"):
            return None, None
        return None, f"labsutil.roi could not be imported: {err}"
    except Exception as err:  # a broken ROI module must not take the report down with it
        return None, f"labsutil.roi could not be imported: {type(err).__name__}: {err}"
    summary = getattr(roi, "report_summary", None)
    if summary is None:
        return None, None
    try:
        frame = summary(Path(run_dir))
    except Exception as err:
        return None, f"the ROI summary failed: {type(err).__name__}: {err}"
    if frame is None or getattr(frame, "empty", True):
        return None, None
    return frame, None


def roi_summary_html(run_dir: str | Path, max_rows: int | None = None) -> str:
    frame, error = roi_summary(run_dir)
    if error:
        return f"<p class='error'>{html.escape(error)}</p>"
    if frame is None:
        return ""
    return frame.to_html(classes="headline", border=0, max_rows=max_rows, float_format=_number)


_STYLE = """
*{box-sizing:border-box} body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:1100px;padding:1rem;line-height:1.4;color:#222} h1{font-size:1.5rem;margin:.2rem 0}
h2{font-size:1.15rem;margin:0 0 .5rem} section{border:1px solid #ddd;border-radius:6px;padding:.8rem;margin:1rem 0}
section.failed{border-color:#d33;background:#fff5f5} .status{display:inline-block;padding:0 .5em;border-radius:3px;
font-size:.85rem;background:#e6f4ea;color:#1e6b34} .failed .status{background:#fde2e2;color:#a11}
.meta{color:#555;font-size:.9rem} .scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;font-size:.85rem} td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;
vertical-align:top;white-space:nowrap} th{background:#f6f6f6} .note{font-size:.8rem;color:#666}
pre{white-space:pre-wrap;word-break:break-word;font-size:.8rem;background:#fff;padding:.4rem;border:1px solid #eee}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:.6rem;margin-top:.6rem}
figure{margin:0} figure img{width:100%;height:auto;border:1px solid #eee} figcaption{font-size:.8rem;color:#555}
.error{color:#a11} tr.failed td{color:#a11}
@media (max-width:600px){td,th{white-space:normal}}
"""


def plot_caption(path: str) -> str:
    """`plots/02_chunk_size_sweep.png` -> `chunk size sweep`."""
    return Path(path).stem.split("_", 1)[-1].replace("_", " ")


def _lab_section(run_dir: Path, result) -> str:
    name = html.escape(result.notebook)
    title = f"<a href='{html.escape(result.html)}'>{name}</a>" if result.html else name
    parts = [f"<h2>{title} <span class='status'>{html.escape(result.status)}</span></h2>",
             f"<div class='meta'>{result.seconds:.0f} s"
             + (f" · <a href='{html.escape(result.html)}'>executed notebook</a>" if result.html else "") + "</div>"]
    if result.error:
        parts.append(f"<pre>{html.escape(result.error[:2000])}</pre>")
    table = lab_headline(run_dir, result.lab)
    if table.rows:
        parts.append(f"<div class='scroll'>{table.html()}</div><p class='note'>{interval_note(table)}</p>")
    else:
        parts.append("<p class='note'>No ledger rows for this lab.</p>")
    if result.plots:
        figures = "".join(f"<figure><a href='{html.escape(p)}'><img src='{html.escape(p)}' alt='{html.escape(p)}' "
                          f"loading='lazy'></a><figcaption>{html.escape(plot_caption(p))}</figcaption></figure>"
                          for p in result.plots)
        parts.append(f"<div class='plots'>{figures}</div>")
    return f"<section class='lab {html.escape(result.status)}' id='lab-{html.escape(result.lab)}'>{''.join(parts)}</section>"


def write_index(run_dir: Path, profile: str, results: list) -> Path:
    """Write `<run_dir>/index.html`: each lab's status, duration, headline numbers, plots and notebook link."""
    run_dir = Path(run_dir)
    passed = sum(r.status == "ok" for r in results)
    summary_rows = "".join(
        f"<tr class='{html.escape(r.status)}'><td><a href='#lab-{html.escape(r.lab)}'>{html.escape(r.notebook)}</a></td>"
        f"<td>{html.escape(r.status)}</td><td>{r.seconds:.0f} s</td></tr>" for r in results)
    roi = roi_summary_html(run_dir)
    roi_section = f"<section id='roi'><h2>ROI summary</h2><div class='scroll'>{roi}</div></section>" if roi else ""
    page = f"""<!doctype html><html lang='en'><head><meta charset='utf-8'>
<meta name='viewport' content='width=device-width, initial-scale=1'><title>Lab run {html.escape(run_dir.name)}</title>
<style>{_STYLE}</style></head><body>
<h1>Lab run {html.escape(run_dir.name)}</h1>
<p class='meta'>Profile <b>{html.escape(profile)}</b> · {passed} of {len(results)} labs passed ·
{sum(r.seconds for r in results) / 60:.1f} min in all · results ledger:
<a href='{ledger.LEDGER_FILE}'>{ledger.LEDGER_FILE}</a></p>
<div class='scroll'><table class='summary'><tr><th>lab</th><th>status</th><th>duration</th></tr>{summary_rows}</table></div>
{roi_section}
{''.join(_lab_section(run_dir, r) for r in results)}
</body></html>"""
    path = run_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def load_results(run_dir: Path) -> list:
    """The lab results a run recorded in `summary.json` (empty when it has none or cannot be read)."""
    from .runner import LabResult

    try:
        return [LabResult(**item) for item in json.loads((Path(run_dir) / "summary.json").read_text())]
    except (OSError, ValueError, TypeError):
        return []

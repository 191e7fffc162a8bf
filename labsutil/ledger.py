"""The results ledger: one JSON line per measured result (design.md section 7).

Labs append rows with `record`; the ROI lab, the runner's report and the notebook
tests read them with `read` / `frame`. Nothing reads numbers out of notebook text.

Beside a row, a lab may keep its per-question outcomes with `record_answers` (a sidecar file
`<run_dir>/answers/<lab>/<variant>.jsonl`, one line per question): the ROI lab uses them to compare
approaches on the questions they have in common, and to work out a cascade question by question.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Iterable

from . import __version__

LEDGER_FILE = "ledger.jsonl"
ANSWERS_DIR = "answers"
ANSWER_KEYS = ("qid", "correct", "token_f1", "tokens_in", "tokens_out", "latency_s")  # qid, correct required
COST_KEYS = ("tokens_in", "tokens_out", "latency_p50_s", "latency_p95_s", "train_seconds", "peak_mem_mb")
ROW_KEYS = ("lab", "variant", "dataset", "model", "profile", "metrics", "cost", "params", "timestamp",
            "labsutil_version")


class LedgerError(ValueError):
    pass


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: store them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return _clean(value.item())
    return value


def _check_metrics(metrics: dict) -> None:
    if not isinstance(metrics, dict) or not metrics:
        raise LedgerError("metrics must be a non-empty dict of name -> number")
    for name, value in metrics.items():
        if value is not None and not isinstance(value, (int, float)) and not hasattr(value, "item"):
            raise LedgerError(f"metric {name!r} = {value!r} is not a number")


def ledger_path(run_dir: str | Path) -> Path:
    path = Path(run_dir)
    return path if path.suffix == ".jsonl" else path / LEDGER_FILE


def _config_params(cfg) -> dict:
    """The run's parameters, plus what `dtype="auto"` became on this machine (the row's numbers depend on it)."""
    out = dict(cfg.as_params())
    if out.get("dtype") == "auto":
        from .llm import resolve_dtype

        out["precision"] = resolve_dtype("auto")
    return out


def record(cfg, variant: str, metrics: dict, cost: dict | None = None, params: dict | None = None, *,
           model: str | None = None, answers: Iterable[Any] | None = None) -> dict:
    """Append one result row to `<cfg.run_dir>/ledger.jsonl` and return it.

    `answers`: the per-question outcomes the row summarises (see `record_answers`), kept beside it so that
    later comparisons (the ROI lab, paired tests) can align questions.
    """
    _check_metrics(metrics)
    if answers is not None:
        record_answers(cfg, variant, answers)
    unknown = set(cost or {}) - set(COST_KEYS)
    if unknown:
        raise LedgerError(f"unknown cost field(s) {sorted(unknown)}; allowed: {list(COST_KEYS)}")
    row = {
        "lab": cfg.lab,
        "variant": variant,
        "dataset": Path(cfg.dataset_dir).name,
        "model": model or cfg.model,
        "profile": cfg.profile,
        "metrics": metrics,
        "cost": {key: (cost or {}).get(key) for key in COST_KEYS},
        "params": {**_config_params(cfg), **(params or {})},
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "labsutil_version": __version__,
    }
    row = _clean(row)
    path = ledger_path(cfg.run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return row


def read(run_dir: str | Path, lab: str | None = None, latest: bool = True) -> list[dict]:
    """Rows of a ledger; with `latest`, only the last row of each (lab, variant, dataset, model, profile)."""
    path = ledger_path(run_dir)
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise LedgerError(f"{path}:{number}: not JSON ({err.msg})") from err
    if lab is not None:
        rows = [r for r in rows if r["lab"] == lab]
    if latest:
        keyed = {(r["lab"], r["variant"], r["dataset"], r["model"], r["profile"]): r for r in rows}
        rows = list(keyed.values())
    return rows


def frame(rows: Iterable[dict]):
    """A pandas DataFrame with one column per metric and cost field."""
    import pandas as pd

    flat = []
    for row in rows:
        item = {k: row[k] for k in ("lab", "variant", "dataset", "model", "profile")}
        item.update(row["metrics"])
        item.update({k: v for k, v in row["cost"].items()})
        flat.append(item)
    return pd.DataFrame(flat)


def results_table(run_dir: str | Path, lab: str, metrics: list[str] | None = None,
                  cost: Iterable[str] = ("tokens_in", "tokens_out", "latency_p50_s", "latency_p95_s")):
    """A lab's results, one row per variant: the chosen metrics, then the cost columns that were measured."""
    df = frame(read(run_dir, lab=lab))
    if df.empty:
        return df
    metric_cols = metrics or [c for r in read(run_dir, lab=lab) for c in r["metrics"]]
    metric_cols = list(dict.fromkeys(metric_cols))
    cost_cols = [c for c in cost if c in df and df[c].notna().any()]
    return df.set_index("variant")[[*metric_cols, *cost_cols]]


def answers_path(run_dir: str | Path, lab: str, variant: str) -> Path:
    """`<run_dir>/answers/<lab>/<variant>.jsonl`; a '/' in the variant makes a subfolder."""
    parts = str(variant).split("/")
    if not variant or any(p in ("", ".", "..") for p in parts):
        raise LedgerError(f"variant {variant!r} cannot name an answers file")
    return Path(run_dir).joinpath(ANSWERS_DIR, lab, *parts[:-1], parts[-1] + ".jsonl")


def _answer_line(item: Any, position: int) -> dict:
    """One question's outcome from a dict or an object with those attributes (e.g. `rag.pipeline.Record`)."""
    get = item.get if isinstance(item, dict) else (lambda key: getattr(item, key, None))
    line = {key: get(key) for key in ANSWER_KEYS if get(key) is not None}
    if line.get("qid") is None or line.get("correct") is None:
        raise LedgerError(f"answer {position}: needs a qid and a correct flag, got {sorted(line)}")
    line["qid"], line["correct"] = str(line["qid"]), bool(line["correct"])
    return _clean(line)


def record_answers(cfg, variant: str, records: Iterable[Any]) -> Path:
    """Write one JSON line per answered question (qid, correct, and when known token_f1, tokens_in,
    tokens_out, latency_s) to `<run_dir>/answers/<lab>/<variant>.jsonl`, replacing an earlier file.

    Call it next to `record(cfg, variant, ...)` with the records the row summarises.
    """
    lines = [_answer_line(item, i) for i, item in enumerate(records)]
    qids = [line["qid"] for line in lines]
    if len(set(qids)) != len(qids):
        raise LedgerError(f"answers of {variant!r}: a qid appears twice")
    path = answers_path(cfg.run_dir, cfg.lab, variant)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    partial.replace(path)  # a reader never sees half a file
    return path


def read_answers(run_dir: str | Path, lab: str, variant: str) -> list[dict] | None:
    """The per-question outcomes `record_answers` wrote for a row, or None when the lab kept none."""
    path = answers_path(run_dir, lab, variant)
    if not path.is_file():
        return None
    answers = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                answers.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise LedgerError(f"{path}:{number}: not JSON ({err.msg})") from err
    return answers


def save_plot(fig, cfg, name: str) -> Path:
    """Save a matplotlib figure under `<run_dir>/plots/<lab>_<name>.png` (the runner's report links them)."""
    path = Path(cfg.run_dir) / "plots" / f"{cfg.lab}_{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path

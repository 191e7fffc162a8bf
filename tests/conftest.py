"""Shared fixtures: a tiny random model with the real tokenizer, a tiny dataset, a config."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SMOKE_BUDGET_S = 120  # design.md: every notebook "well under 2 minutes" in the smoke profile
_TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="session")
def lab_timings() -> dict[str, float]:
    """Seconds per lab notebook, filled by the notebook tests, reported at the end of the session."""
    return _TIMINGS


def _cpu_load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def pytest_terminal_summary(terminalreporter):
    """The timing report: each lab's smoke time against its budget. Reported, never a failure."""
    if not _TIMINGS:
        return
    report = {"budget_s": SMOKE_BUDGET_S, "cpu_count": os.cpu_count(), "load_avg_1min_at_end": _cpu_load(),
              "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "labs": dict(sorted(_TIMINGS.items()))}
    path = Path(os.environ.get("LABS_TIMINGS_FILE", REPO / "runs" / "test-timings.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    write = terminalreporter.write_line
    terminalreporter.section(f"lab timings (smoke profile, budget {SMOKE_BUDGET_S} s each; measured, not asserted)")
    for lab, seconds in report["labs"].items():
        flag = "" if seconds <= SMOKE_BUDGET_S else f"  OVER the {SMOKE_BUDGET_S} s budget (a busy machine?)"
        write(f"{lab:<34} {seconds:7.1f} s{flag}")
    write(f"load average at the end: {report['load_avg_1min_at_end']} on {report['cpu_count']} CPUs; "
          f"written to {path}")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """SmolLM2's tokenizer and architecture with 2 small layers and random weights: fast, deterministic."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, LlamaForCausalLM

    from labsutil import models

    source = models.resolve_llm(models.SMOLLM2).path
    config = AutoConfig.from_pretrained(source)
    config.update({"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                   "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
                   "initializer_range": 0.2})  # a wide init makes greedy choices clear-cut, not ties
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny-smollm2")
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(source).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def adapters_cache(tiny_model_dir, tmp_path_factory):
    """A private adapter cache for one test module (the tiny model is built first, from the real cache)."""
    folder = tmp_path_factory.mktemp("adapters-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABS_CACHE_DIR", str(folder))
        yield folder


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def tiny_dataset(tmp_path) -> Path:
    """The smallest folder keeping the data contract: corpus.jsonl and qa.jsonl."""
    folder = tmp_path / "tiny"
    write_jsonl(folder / "corpus.jsonl", [
        {"doc_id": "d1", "title": "Acme profile", "text": "Acme Corp is headquartered in Lisbon."},
        {"doc_id": "d2", "title": "Beta profile", "text": "Beta Ltd was founded in 1999."},
    ])
    write_jsonl(folder / "qa.jsonl", [
        {"qid": "q1", "question": "Where is Acme Corp headquartered?", "answer": "Lisbon", "aliases": [],
         "doc_ids": ["d1"], "type": "single_hop", "split": "test"},
    ])
    return folder


@pytest.fixture
def cfg(tiny_dataset, tmp_path):
    from labsutil import config

    return config.setup("00", profile="smoke", dataset_dir=str(tiny_dataset), run_dir=str(tmp_path / "run"))


def _ledger_row(lab: str, variant: str, metrics: dict) -> dict:
    return {"lab": lab, "variant": variant, "dataset": "contracts", "model": "smollm2-135m-instruct",
            "profile": "smoke", "metrics": metrics, "cost": {}, "params": {}, "timestamp": "2026-01-01T00:00:00",
            "labsutil_version": "0.1.0"}


def _plot(path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(["closed book", "RAG k=3"], [0.05, 0.62], yerr=[[0.03, 0.1], [0.08, 0.09]], capsize=4)
    ax.set_ylabel("answer accuracy")
    ax.set_title(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)


@pytest.fixture
def synthetic_run(tmp_path) -> Path:
    """A run folder as `make labs` leaves it, made up (no lab is executed): a ledger whose lab-02 rows carry
    95% intervals and lab-04 rows do not, a plot, an exported notebook page, summary.json and index.html."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    from labsutil import htmlexport, report
    from labsutil.runner import LabResult

    run_dir = tmp_path / "runs" / "20260101-000000-smoke"
    write_jsonl(run_dir / "ledger.jsonl", [
        _ledger_row("00", "model_load", {"load_seconds": 1.4}),
        _ledger_row("02", "retrieval_dense", {"recall_at_5": 0.81, "mrr": 0.7}),
        _ledger_row("02", "closed_book", {"answer_accuracy": 0.05, "n": 100, "ci_low": 0.022, "ci_high": 0.112}),
        _ledger_row("02", "rag_k3", {"tokens": 812.0, "answer_accuracy": 0.62, "n": 100, "ci_low": 0.522,
                                     "ci_high": 0.709, "citation_accuracy": 0.55, "citation_accuracy_ci_low": 0.45,
                                     "citation_accuracy_ci_high": 0.65, "citation_accuracy_n": 90}),
        _ledger_row("04", "vector/multi_hop", {"all_recall_at_5": 0.4, "accuracy": 0.2}),
    ])
    _plot(run_dir / "plots" / "02_closed_book_vs_rag.png", "closed book vs RAG")
    nb = new_notebook(cells=[new_markdown_cell("# Lab 02 (synthetic)"), new_code_cell("print('hello')", outputs=[
        new_output("stream", name="stdout", text="hello\n")])])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, run_dir / "02_rag_foundations.ipynb")
    htmlexport.export_notebook(run_dir / "02_rag_foundations.ipynb", run_dir / "html" / "02_rag_foundations.html")
    results = [
        LabResult("00", "00_setup_tour.ipynb", "ok", 31.0),
        LabResult("02", "02_rag_foundations.ipynb", "ok", 95.0, html="html/02_rag_foundations.html",
                  plots=["plots/02_closed_book_vs_rag.png"]),
        LabResult("04", "04_kg_rag.ipynb", "failed", 12.0, error="RuntimeError: synthetic failure"),
    ]
    (run_dir / "summary.json").write_text(json.dumps([r.__dict__ for r in results]))
    report.write_index(run_dir, "smoke", results)
    return run_dir


@pytest.fixture(scope="session")
def reveal_copy() -> Path:
    """The local reveal.js that `make setup` installs; the deck tests need the real one."""
    from labsutil import slides

    folder = slides.reveal_dir()
    if not slides._reveal_ok(folder):
        pytest.skip(f"reveal.js is not installed in {folder}: run `make setup` "
                    "(or `python -m labsutil slides --install`) while the package registries can be reached")
    return folder

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
    terminalreporter.section("lab timings (smoke profile; measured, not asserted)")
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

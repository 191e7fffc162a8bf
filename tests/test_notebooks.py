"""Every lab notebook, executed by papermill in the smoke profile, then checked on the ledger it wrote.

Each lab has `tests/labchecks/labNN.py` with `check(rows, run_dir)`; a lab without one fails here,
so no notebook is only "run" without its measured results being looked at.

All labs of a test session write into ONE shared run folder, as `make labs` does: each lab's rows are still
checked by lab, and lab 09 (the ROI benchmark, last in name order) reads the ledger the earlier labs wrote.

Time is measured, not asserted: each lab's seconds go to the timing report that conftest.py writes at the
end of the session (`runs/test-timings.json`, printed with the smoke budget beside it), so a busy laptop
shows a slow lab without failing the suite.
"""
from __future__ import annotations

import importlib
import time
from pathlib import Path

import pytest

from labsutil import ledger

REPO = Path(__file__).resolve().parent.parent
LABS = sorted((REPO / "labs").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="session")
def session_run_dir(tmp_path_factory) -> Path:
    """The run folder every lab of this test session writes its ledger, plots and answers into."""
    return tmp_path_factory.mktemp("session") / "run"


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", LABS, ids=[nb.stem for nb in LABS])
def test_lab_runs_in_smoke_profile_and_records_results(notebook: Path, tmp_path: Path, session_run_dir: Path,
                                                      lab_timings: dict):
    import papermill as pm

    run_dir = session_run_dir
    start = time.perf_counter()
    pm.execute_notebook(str(notebook), str(tmp_path / notebook.name), cwd=str(notebook.parent),
                        parameters={"profile": "smoke", "run_dir": str(run_dir)}, kernel_name="python3",
                        progress_bar=False)
    seconds = time.perf_counter() - start
    lab = notebook.name[:2]
    rows = ledger.read(run_dir, lab=lab)
    assert rows, f"{notebook.name} wrote no ledger rows"
    assert all(r["profile"] == "smoke" for r in rows)
    try:
        checks = importlib.import_module(f"labchecks.lab{lab}")
    except ModuleNotFoundError:
        pytest.fail(f"no tests/labchecks/lab{lab}.py: every lab needs assertions on its ledger rows")
    lab_timings[notebook.stem] = round(seconds, 1)
    checks.check(rows, run_dir)


@pytest.mark.notebook
def test_lab07_runs_unchanged_on_only_corpus_and_single_hop_questions(tmp_path: Path):
    """Issue 14: lab 07 runs on a folder holding only corpus.jsonl and qa.jsonl, single-hop questions only (no
    facts, triples or choices; no unanswerable questions, so the abstention rows are skipped, and said so)."""
    import json
    import shutil

    import papermill as pm

    from labchecks import lab07

    folder = tmp_path / "only_contract"
    folder.mkdir()
    shutil.copy(REPO / "data" / "contracts" / "corpus.jsonl", folder / "corpus.jsonl")
    keep = ("qid", "question", "answer", "aliases", "doc_ids", "type", "split")
    questions = [json.loads(line) for line in (REPO / "data" / "contracts" / "qa.jsonl").read_text().splitlines()]
    (folder / "qa.jsonl").write_text("".join(json.dumps({k: q[k] for k in keep}) + "\n"
                                             for q in questions if q["type"] == "single_hop"))
    notebook = REPO / "labs" / "07_rag_plus_finetuning.ipynb"
    out = pm.execute_notebook(str(notebook), str(tmp_path / notebook.name), cwd=str(notebook.parent),
                              parameters={"profile": "smoke", "run_dir": str(tmp_path / "run"),
                                          "dataset_dir": str(folder)}, kernel_name="python3", progress_bar=False)
    rows = ledger.read(tmp_path / "run", lab="07")
    lab07.check(rows, tmp_path / "run")
    printed = "".join(o.get("text", "") for c in out["cells"] for o in c.get("outputs", []))
    assert "no test questions of type 'multi_hop'" in printed and not any("unanswerable" in r["variant"] for r in rows)

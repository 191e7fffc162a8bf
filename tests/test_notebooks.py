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

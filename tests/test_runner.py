"""The runner on a tiny throw-away course: one lab that records a row, one that fails."""
import json
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from labsutil import ledger, runner


def _notebook(path, body):
    params = new_code_cell('profile = None\ndataset_dir = "DATASET"\nrun_dir = None\nseed = 0')
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def course(tmp_path, tiny_dataset):
    labs = tmp_path / "labs"
    labs.mkdir()
    ok = ("from labsutil import config, ledger\n"
          "cfg = config.setup('00', globals())\n"
          "ledger.record(cfg, 'only', {'accuracy': 0.75})")
    _notebook(labs / "00_ok.ipynb", ok.replace("DATASET", str(tiny_dataset)))
    _notebook(labs / "01_broken.ipynb", "raise RuntimeError('lab failed on purpose')")
    for nb in labs.glob("*.ipynb"):  # the dataset path lives in the parameters cell
        nb.write_text(nb.read_text().replace("DATASET", str(tiny_dataset)))
    return labs


def test_run_continues_past_failure_and_reports(course, tmp_path):
    run_dir, results = runner.run_labs("smoke", labs_dir=course, runs_root=tmp_path / "runs", run_id="r1")
    assert [(r.lab, r.status) for r in results] == [("00", "ok"), ("01", "failed")]
    assert "lab failed on purpose" in results[1].error
    rows = ledger.read(run_dir)
    assert rows[0]["metrics"]["accuracy"] == 0.75 and rows[0]["profile"] == "smoke"
    index = (run_dir / "index.html").read_text()
    assert "00_ok.ipynb" in index and "failed" in index and "0.75" in index
    assert (run_dir / "html" / "00_ok.html").is_file()
    assert (tmp_path / "runs" / "latest").resolve() == run_dir
    assert json.loads((run_dir / "summary.json").read_text())[1]["status"] == "failed"


def test_discover_filters_and_rejects_unknown(course):
    assert [p.name for p in runner.discover(course, ["1"])] == ["01_broken.ipynb"]
    with pytest.raises(SystemExit, match="no lab matches"):
        runner.discover(course, ["07"])


def test_params_file_common_and_per_lab(tmp_path):
    file = tmp_path / "p.yaml"
    file.write_text("seed: 3\n'02':\n  top_k: 8\n")
    assert runner.load_params(file) == ({"seed": 3}, {"02": {"top_k": 8}})


def test_unknown_parameter_in_params_file_stops_before_any_lab(course, tmp_path):
    file = tmp_path / "p.yaml"
    file.write_text("'00':\n  topk: 8\n")
    with pytest.raises(SystemExit, match=r"unknown parameter\(s\) \['topk'\] for lab 00"):
        runner.run_labs("smoke", labs_dir=course, params_file=file, runs_root=tmp_path / "runs", run_id="r3")
    assert not (tmp_path / "runs" / "r3" / "00_ok.ipynb").exists()


def test_cli_exits_nonzero_naming_failed_lab(course, tmp_path, monkeypatch):
    from labsutil import __main__ as cli

    monkeypatch.setattr(runner.paths, "repo_root", lambda: None)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runner, "discover", lambda labs_dir, only=None: sorted(course.glob("*.ipynb")))
    code = cli.main(["run", "--profile", "smoke", "--run-id", "r2", "--runs-dir", str(tmp_path / "runs")])
    assert code == 1


def test_cli_help():
    out = subprocess.run([sys.executable, "-m", "labsutil", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "provision" in out.stdout

"""Decks and the run report: headline selection, offline HTML, placeholder and results slides, reveal.js install."""
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from labsutil import htmlexport, report, slides

REPO = Path(__file__).resolve().parent.parent
DECKS = sorted((REPO / "slides").glob("*.ipynb"))


def _row(variant, metrics, lab="02"):
    return {"lab": lab, "variant": variant, "metrics": metrics}


# ---- which rows and metrics headline a lab ---------------------------------------------------

def test_headline_prefers_rows_with_intervals():
    rows = [_row("retrieval", {"mrr": 0.7}),
            _row("rag", {"tokens": 812, "answer_accuracy": 0.62, "n": 100, "ci_low": 0.52, "ci_high": 0.71,
                         "f1": 0.5, "f1_ci_low": 0.4, "f1_ci_high": 0.6, "f1_n": 90})]
    table = report.headline_table(rows)
    assert table.with_intervals and [r.variant for r in table.rows] == ["rag"]
    # `tokens` is outside the interval: the interval belongs to answer_accuracy, the first metric inside it
    assert table.metrics == ["answer_accuracy", "f1"]
    measures = table.rows[0].measures
    assert measures["answer_accuracy"].text(100) == "0.62 [0.52, 0.71]"
    assert measures["f1"].text(100) == "0.5 [0.4, 0.6] (n = 90)"
    page = table.html()
    assert "<th>n</th>" in page and "<td>100</td>" in page and "mrr" not in page


def test_headline_without_intervals_shows_first_metrics_of_every_row():
    rows = [_row("a", {f"m{i}": i / 10 for i in range(8)}), _row("b", {"m0": 0.25, "n": 12})]
    table = report.headline_table(rows, max_metrics=3)
    assert not table.with_intervals
    assert table.metrics == ["m0", "m1", "m2"] and [r.variant for r in table.rows] == ["a", "b"]
    assert table.rows[1].n == 12 and table.rows[1].measures["m0"].text(12) == "0.25"
    assert "No interval" in report.interval_note(table)


def test_plain_interval_without_a_metric_inside_falls_back_to_first_metric():
    found = report.interval_measures({"score": 3.0, "ci_low": 0.1, "ci_high": 0.2})
    assert list(found) == ["score"] and found["score"].has_interval


# ---- offline HTML ----------------------------------------------------------------------------

def test_remote_references_finds_loads_not_links():
    page = ("<script src='https://cdn/x.js'></script><link rel='stylesheet' href='//cdn/y.css'>"
            "<a href='https://arxiv.org/abs/1'>paper</a><img src='data:image/png;base64,AA'>"
            "<style>@import url(https://fonts/z.css);</style><pre>url(https://not-css)</pre>"
            "<script type='module'>import m from 'https://cdn/m.js';</script>")
    assert htmlexport.remote_references(page) == ["//cdn/y.css", "https://cdn/m.js", "https://cdn/x.js",
                                                  "https://fonts/z.css"]
    assert htmlexport.remote_references("a{background:url(./f.woff)}", stylesheet=True) == []


def test_notebook_page_loads_nothing_remote(tmp_path):
    widget = {"model_id": "abc", "version_major": 2, "version_minor": 0}
    nb = new_notebook(cells=[new_markdown_cell("# Title"), new_code_cell("1 + 1", outputs=[
        new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}),
        new_output("display_data", data={"application/vnd.jupyter.widget-view+json": widget,
                                         "text/plain": "IntProgress(value=3, max=10)"})])])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2,
                                                                             "version_minor": 0}}
    page = htmlexport.notebook_html(nb)
    assert htmlexport.remote_references(page) == []
    assert "http" not in page and "require.js" not in page and "mathjax" not in page.lower()
    assert "data:image/png;base64,iVBORw0KGgo=" in page
    assert "IntProgress(value=3, max=10)" in page  # a widget shows its text form, not an empty box


# ---- decks -----------------------------------------------------------------------------------

def test_every_part_has_a_deck_naming_its_labs():
    labs = {lab for deck in DECKS for lab in nbformat.read(deck, as_version=4).metadata["labsutil"]["labs"]}
    assert labs == {f"{n:02d}" for n in range(10)}
    for deck in DECKS:
        nb = nbformat.read(deck, as_version=4)
        assert all(c.cell_type == "markdown" and c.metadata["slideshow"]["slide_type"] for c in nb.cells), deck.name
        assert sum("results" in c.metadata.get("tags", []) for c in nb.cells) == 1, deck.name


def test_decks_before_any_run_show_the_make_labs_slide(tmp_path, reveal_copy):
    built = slides.build_all(DECKS, tmp_path / "slides", run_dir=None)
    assert [p.stem for p in built] == [d.stem for d in DECKS]
    for page_path in built:
        page = page_path.read_text()
        assert "No measured results yet: run <code>make labs</code> first" in page, page_path.name
        assert 'class="measured' not in page
        assert htmlexport.remote_references(page) == [] and "http" not in page, page_path.name
        assert 'src="reveal.js/dist/reveal.js"' in page
    for css in (tmp_path / "slides" / "reveal.js").rglob("*.css"):
        assert htmlexport.remote_references(css.read_text(), stylesheet=True) == [], css


def test_results_slides_come_from_the_runs_ledger(tmp_path, synthetic_run, reveal_copy):
    slides.copy_reveal(tmp_path)
    page = slides.build_deck(REPO / "slides" / "02_rag.ipynb", tmp_path, synthetic_run).read_text()
    assert 'data-lab="02"' in page and "0.62 [0.522, 0.709]" in page and "0.55 [0.45, 0.65] (n = 90)" in page
    assert "retrieval_dense" not in page  # rows without an interval give way to those with one
    assert page.count('<img alt="02_closed_book_vs_rag" src="data:image/png;base64,') == 1  # embedded
    assert "Run 20260101-000000-smoke has no results for lab 03." in page  # lab 03 did not run
    assert htmlexport.remote_references(page) == []
    # the measured slides follow the cell tagged `results`; the closing slide stays last
    assert page.index("Measured in your run") < page.index('data-lab="02"') < page.index("Reading your numbers")


def test_a_lab_without_rows_gets_the_make_labs_slide_with_the_reason(synthetic_run):
    (cell,) = slides.lab_slides(synthetic_run, "05")
    assert "run `make labs` first" in cell.source and "has no results for lab 05" in cell.source
    summary = synthetic_run / "summary.json"
    summary.write_text(summary.read_text().replace('"lab": "00"', '"lab": "05"'))
    (cell,) = slides.lab_slides(synthetic_run, "05")
    assert "lab 05 ok, with no results recorded" in cell.source
    (cell,) = slides.lab_slides(synthetic_run.parent / "missing", "02")
    assert "No run found at" in cell.source
    assert "vector/multi_hop" in slides.lab_slides(synthetic_run, "04")[0].source  # failed late: rows still show


def test_roi_deck_adds_the_roi_summary(synthetic_run, monkeypatch):
    import pandas as pd

    with (synthetic_run / "ledger.jsonl").open("a") as ledger_file:
        ledger_file.write('{"lab": "09", "variant": "rag", "dataset": "d", "model": "m", "profile": "smoke", '
                          '"metrics": {"cost_per_1k": 0.4}, "cost": {}, "params": {}}\n')
    fake = types.ModuleType("labsutil.roi")
    fake.report_summary = lambda run_dir: pd.DataFrame({"approach": ["rag"], "break_even_queries": [1200]})
    monkeypatch.setitem(sys.modules, "labsutil.roi", fake)
    sources = [c.source for c in slides.lab_slides(synthetic_run, "09")]
    assert any("break_even_queries" in s and "1200" in s for s in sources)


# ---- the run report --------------------------------------------------------------------------

def test_report_shows_each_lab_offline(synthetic_run):
    page = (synthetic_run / "index.html").read_text()
    assert htmlexport.remote_references(page) == [] and "http" not in page and "<script" not in page
    assert "name='viewport'" in page
    for text in ("00_setup_tour.ipynb", "95 s", "0.62 [0.522, 0.709]", "src='plots/02_closed_book_vs_rag.png'",
                 "href='html/02_rag_foundations.html'", "RuntimeError: synthetic failure", "2 of 3 labs passed"):
        assert text in page, text
    assert "ROI summary" not in page  # no labsutil.roi yet


def test_report_includes_roi_summary_or_its_error(synthetic_run, monkeypatch):
    import pandas as pd

    results = report.load_results(synthetic_run)
    fake = types.ModuleType("labsutil.roi")
    fake.report_summary = lambda run_dir: pd.DataFrame({"approach": ["rag"], "cost_per_1k_queries": [0.4]})
    monkeypatch.setitem(sys.modules, "labsutil.roi", fake)
    page = report.write_index(synthetic_run, "smoke", results).read_text()
    assert "ROI summary" in page and "cost_per_1k_queries" in page

    def broken(run_dir):
        raise KeyError("no lab 09 rows")
    fake.report_summary = broken
    page = report.write_index(synthetic_run, "smoke", results).read_text()
    assert "the ROI summary failed: KeyError" in page and "02_rag_foundations.ipynb" in page

    fake.report_summary = lambda run_dir: None
    assert "ROI summary" not in report.write_index(synthetic_run, "smoke", results).read_text()


# ---- reveal.js: installed by `make setup`, from npm or else PyPI -------------------------------

def _fake_reveal(folder: Path) -> Path:
    (folder / "dist" / "theme").mkdir(parents=True)
    (folder / "dist" / "reveal.js").write_text("/*!\n * reveal.js 5.2.0\n */\n")
    (folder / "dist" / "theme" / "white.css").write_text("")
    return folder


def test_install_falls_back_to_pypi_without_npm(tmp_path, monkeypatch):
    monkeypatch.setattr(slides.shutil, "which", lambda name: None)
    monkeypatch.setattr(slides, "_from_wheel", lambda tmp: _fake_reveal(tmp / "reveal"))
    dest = slides.install_reveal(tmp_path / "reveal")
    assert (dest / "dist" / "reveal.js").is_file() and (dest / "dist" / "theme" / "white.css").is_file()
    assert slides.install_reveal(dest) == dest  # idempotent: nothing fetched again


def test_install_fails_clearly_when_nothing_works(tmp_path, monkeypatch):
    monkeypatch.setattr(slides.shutil, "which", lambda name: None)

    def no_pypi(tmp):
        raise subprocess.CalledProcessError(1, "pip", stderr="network unreachable")
    monkeypatch.setattr(slides, "_from_wheel", no_pypi)
    with pytest.raises(slides.RevealMissing, match="npm is not installed(.|\n)*network unreachable(.|\n)*make setup"):
        slides.install_reveal(tmp_path / "reveal")


def test_cli_without_reveal_says_run_make_setup(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "LABS_CACHE_DIR": str(tmp_path / "empty-cache"), "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "labsutil", "slides", "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 2 and "make setup" in out.stderr


def test_cli_builds_decks(tmp_path, synthetic_run, reveal_copy):
    from labsutil import __main__ as cli

    code = cli.main(["slides", "--run", str(synthetic_run), "--out", str(tmp_path / "out"),
                     str(REPO / "slides" / "00_course_intro.ipynb")])
    assert code == 0
    page = (tmp_path / "out" / "00_course_intro.html").read_text()
    assert 'data-lab="00"' in page and (tmp_path / "out" / "reveal.js" / "dist" / "reveal.js").is_file()

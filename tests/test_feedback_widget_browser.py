"""The feedback widget in a real browser: JupyterLab headless on a loopback port, Chromium driven by
Playwright, a person's clicks simulated (once with the kernel idle between cells, once while a cell waits in
`wait_for_labels`), and the rows read back from the SQLite store.

Needs Chromium (Debian's `chromium` package; `LABS_CHROMIUM` may name another binary). Without it the test
is skipped with a message saying how to install it. Takes about a minute (JupyterLab and a kernel start).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from labsutil.feedback.store import Store
from labsutil.feedback.widget import FeedbackWidget, PairItem

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 90
UI_TIMEOUT_MS = 90_000


def chromium_path() -> str | None:
    for candidate in (os.environ.get("LABS_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def jupyter_lab(tmp_path):
    """JupyterLab serving tmp_path on 127.0.0.1 with a token; shut down (with its kernels) afterwards."""
    port, token = free_port(), os.urandom(16).hex()
    home = tmp_path / "jupyter-home"
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "IPYTHONDIR": str(home / "ipython"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
               "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _server_up(f"http://127.0.0.1:{port}/api/status?token={token}"):
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"JupyterLab did not start within {START_TIMEOUT_S} s:\n"
                                     + (tmp_path / "jupyterlab.log").read_text()[-3000:])
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}", token
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)  # shuts its kernels down too
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
        try:  # a kernel left behind would be in the server's own process group
            os.killpg(server.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        log.close()


def write_notebook(path: Path, store_path: Path, items: list[tuple[int, int, str, str]]) -> None:
    source = (
        "from labsutil.feedback.store import Store\n"
        "from labsutil.feedback.widget import FeedbackWidget, PairItem\n"
        f"store = Store({str(store_path)!r})\n"
        f"items = [PairItem(*item) for item in {items!r}]\n"
        "widget = FeedbackWidget(store, items, annotator='browser-test', round=1, seed=0)\n"
        "widget"
    )
    wait = "labelled = await widget.wait_for_labels(2, timeout_s=120)\nprint(f'waited: {labelled} labelled')"
    notebook = {"cells": [{"cell_type": "code", "execution_count": None, "id": "widget", "metadata": {},
                           "outputs": [], "source": source},
                          {"cell_type": "code", "execution_count": None, "id": "wait", "metadata": {},
                           "outputs": [], "source": wait}],
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
                "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(notebook))


@pytest.fixture
def chromium() -> str:
    found = chromium_path()
    if found is None:
        pytest.skip("Chromium not found: install it (`apt-get install chromium` on Debian/Ubuntu) "
                    "or set LABS_CHROMIUM to a Chromium binary to run this browser test")
    return found


def test_widget_click_edit_submit_lands_in_the_store(tmp_path, chromium, jupyter_lab):  # chromium first: skip early
    from playwright.sync_api import sync_playwright

    store_path = tmp_path / "feedback.sqlite"
    with Store(store_path) as store:
        store.add_model_version("v0", base_model="tiny", status="champion")
        store.add_model_version("v1", base_model="tiny", parent_id="v0")
        items = []
        for qid, question, champion, challenger in [
                ("q1", "Where is Acme Corp headquartered?", "Acme is in Lisbon [d1].", "Porto."),
                ("q2", "When was Beta Ltd founded?", "In 1999 [d2].", "It was founded in 2001.")]:
            a = store.log_interaction("v0", qid, question, champion, round=1)
            b = store.log_interaction("v1", qid, question, challenger, round=1)
            items.append((a, b, question, f"[{qid}] retrieved context for {qid}"))
    write_notebook(tmp_path / "feedback.ipynb", store_path, items)
    url, token = jupyter_lab

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--disable-dev-shm-usage", "--no-first-run"])
        try:
            page = browser.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.goto(f"{url}/lab/tree/feedback.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext.session")
            # Not awaited: the command's promise resolves only when the cell has finished.
            run = "() => {{ window.jupyterapp.commands.execute('{}'); }}"
            # Item 1 while the kernel is idle between cells: the widget's events are handled as they come.
            page.evaluate(run.format("notebook:run-cell"))
            page.get_by_role("button", name="A is better").click()
            page.get_by_placeholder("Corrected answer (optional)").fill("Lisbon, Portugal [d1]")
            page.get_by_placeholder("Reason (optional)").fill("B names the wrong city")
            page.get_by_role("button", name="Submit").click()
            page.get_by_text("Saved 3 row(s) for item 1.").wait_for()
            page.get_by_text("Item 2 of 2").wait_for()
            # Item 2 while the second cell awaits wait_for_labels: the widget's events still reach the kernel.
            # (clicking in the widget made its cell the active one again: select the second cell by index)
            page.evaluate("() => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = 1; }")
            page.evaluate(run.format("notebook:run-cell"))
            page.get_by_role("button", name="B is better").click()
            page.get_by_role("button", name="\N{THUMBS DOWN SIGN} down").first.click()
            page.get_by_role("button", name="Submit").click()
            page.get_by_text("waited: 2 labelled").wait_for()
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))
            raise
        finally:
            browser.close()

    with Store(store_path) as store:
        rows = store.feedback()
        shown_a, shown_b = FeedbackWidget(store, [PairItem(*i) for i in items], seed=0).order(0)  # the blind order
        second_a, second_b = FeedbackWidget(store, [PairItem(*i) for i in items], seed=0).order(1)
    assert [(r.kind, r.value) for r in rows] == [("pairwise", "a"), ("edit", "Lisbon, Portugal [d1]"),
                                                 ("edit", "Lisbon, Portugal [d1]"), ("pairwise", "b"),
                                                 ("thumbs", "down")]
    assert (rows[0].interaction_id, rows[0].other_interaction_id) == (shown_a, shown_b)
    assert {rows[1].interaction_id, rows[2].interaction_id} == {shown_a, shown_b}
    assert (rows[3].interaction_id, rows[3].other_interaction_id, rows[4].interaction_id) == (second_a, second_b,
                                                                                               second_a)
    assert all(r.source == "human" and r.annotator == "browser-test" and r.round == 1 for r in rows)
    assert [r.reason for r in rows] == ["B names the wrong city"] * 3 + [None] * 2

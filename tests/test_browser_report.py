"""The decks and the run report in a real browser (headless Chromium), with the network cut.

Every request that is not a local file is recorded and aborted, so a page that reaches for a CDN
fails here even where the suite runs without `labsutil.netcut`. Screenshots go under the run folder.
"""
import os
import shutil
from pathlib import Path

import pytest

from labsutil import slides

REPO = Path(__file__).resolve().parent.parent
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
PHONE, LAPTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 800}


def _chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
                      "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    if executable is None:
        pytest.skip("no Chromium found: install Chromium (apt-get install chromium) to run the browser tests")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e .[dev]")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True)
        yield browser
        browser.close()


class Watched:
    """A page whose requests that leave the machine are aborted and recorded, with its console errors."""

    def __init__(self, browser, viewport):
        self.context = browser.new_context(viewport=viewport)
        self.remote, self.errors = [], []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("request", lambda r: None if r.url.startswith(LOCAL_SCHEMES) else self.remote.append(r.url))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda err: self.errors.append(str(err)))

    @staticmethod
    def _route(route):  # the "request" handler has recorded it; nothing leaves
        if route.request.url.startswith(LOCAL_SCHEMES):
            route.continue_()
        else:
            route.abort("internetdisconnected")

    def open(self, path: Path):
        self.page.goto(path.resolve().as_uri())
        return self.page

    def assert_clean(self):
        assert self.remote == [], f"requests left the machine: {self.remote}"
        assert self.errors == [], f"console errors: {self.errors}"
        self.context.close()


@pytest.fixture
def decks(tmp_path, synthetic_run, reveal_copy):
    chosen = [REPO / "slides" / "02_rag.ipynb", REPO / "slides" / "05_finetuning.ipynb"]
    return slides.build_all(chosen, synthetic_run / "slides", synthetic_run)


def _check_deck(browser, deck: Path, shots: Path, marker: str) -> int:
    watched = Watched(browser, LAPTOP)
    page = watched.open(deck)
    page.wait_for_function("window.Reveal && Reveal.isReady()", timeout=15000)
    total = page.evaluate("Reveal.getTotalSlides()")
    assert total > 1
    page.keyboard.press("ArrowRight")
    page.wait_for_function("Reveal.getIndices().h === 1", timeout=5000)
    index = page.evaluate(f"Reveal.getSlides().findIndex(s => s.querySelector('{marker}'))")
    assert index > 1, f"no slide with {marker} in {deck.name}"
    page.evaluate(f"Reveal.slide({index})")
    page.wait_for_function(f"Reveal.getIndices().h === {index}")
    page.wait_for_timeout(900)  # let the slide transition finish before the screenshot
    assert page.locator(f"section.present {marker}").is_visible()
    page.screenshot(path=str(shots / f"{deck.stem}_results.png"))
    watched.assert_clean()
    return total


def test_decks_open_offline_and_page(browser, decks, synthetic_run):
    shots = synthetic_run / "screenshots"
    shots.mkdir(exist_ok=True)
    rag, finetuning = decks
    assert _check_deck(browser, rag, shots, ".measured") > 8
    assert _check_deck(browser, finetuning, shots, ".placeholder") > 5
    assert (shots / "02_rag_results.png").stat().st_size > 5000
    print(f"\nscreenshots: {shots}")


def test_run_report_reads_on_phone_and_laptop(browser, synthetic_run):
    shots = synthetic_run / "screenshots"
    shots.mkdir(exist_ok=True)
    for name, viewport in (("phone", PHONE), ("laptop", LAPTOP)):
        watched = Watched(browser, viewport)
        page = watched.open(synthetic_run / "index.html")
        assert page.locator("section.lab").count() == 3
        assert "0.62 [0.522, 0.709]" in page.inner_text("#lab-02")
        images = page.locator("section.lab img")
        images.first.scroll_into_view_if_needed()
        page.wait_for_function("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
        # nothing but a table's own scroll box may be wider than the window
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        page.screenshot(path=str(shots / f"report_{name}.png"), full_page=True)
        page.click("#lab-02 h2 a")
        page.wait_for_load_state()
        assert page.url.endswith("html/02_rag_foundations.html") and "hello" in page.inner_text("body")
        watched.assert_clean()

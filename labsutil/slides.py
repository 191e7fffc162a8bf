"""Slide decks, one per course part, that open offline and carry the latest run's measured numbers.

    python -m labsutil slides             # every deck in slides/ -> runs/slides/, numbers from runs/latest
    python -m labsutil slides --install   # fetch the local reveal.js copy (`make setup` does this)

A deck is a notebook of markdown cells with slideshow metadata (the lesson: what, why, the
published result). Its metadata names the labs it covers, `{"labsutil": {"labs": ["02", "03"]}}`.
Building it inserts the *measured* slides after the cell tagged `results` (else at the end): each
lab's headline table from the run's ledger (the same rows and intervals as the run report, from
labsutil.report) and its saved plots, embedded in the page. A lab with no rows in the run gets a
slide that says to run `make labs` first. nbconvert then writes a reveal.js deck through the offline
template (labsutil.htmlexport) and reveal.js is copied beside the decks, so the output folder opens
from file:// with no network and can be copied to another laptop as it is.
"""
from __future__ import annotations

import argparse
import base64
import html
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from . import htmlexport, paths, report

REVEAL_VERSION = "5.2.1"
# Where npm is missing: a PyPI package that ships the same reveal.js 5.2 build (dist/ and plugin/).
REVEAL_WHEEL = "sphinx-revealjs==3.2.1"
REVEAL_IN_WHEEL = "sphinx_revealjs/_static/revealjs/"
REVEAL_PREFIX = "reveal.js"  # the copy's folder beside the decks, referenced by this relative path
THEME = "white"  # its fonts ship inside reveal.js; most other themes import web fonts from a CDN
# What a deck loads: the script, the notes plugin, the core and theme stylesheets and the theme's fonts.
REVEAL_FILES = ("dist/reveal.js", "dist/reveal.css", "dist/reset.css", f"dist/theme/{THEME}.css",
                "dist/theme/fonts/source-sans-pro", "plugin/notes/notes.js", "LICENSE")
MAX_TABLE_ROWS = 8
MAX_PLOTS = 4
PLACEHOLDER_CLASS = "placeholder"
ROI_LAB = "09"  # its deck also shows labsutil.roi's summary table


class RevealMissing(RuntimeError):
    pass


def reveal_dir() -> Path:
    return paths.cache_dir() / "vendor" / f"reveal.js-{REVEAL_VERSION}"


def _reveal_ok(folder: Path) -> bool:
    script = folder / "dist" / "reveal.js"
    return script.is_file() and "reveal.js 5." in script.read_text(encoding="utf-8", errors="replace")[:200]


def _keep_needed(source: Path, dest: Path) -> None:
    for item in REVEAL_FILES:
        src = source / item
        if src.is_dir():
            shutil.copytree(src, dest / item, dirs_exist_ok=True)
        elif src.is_file():
            (dest / item).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / item)


def _from_npm(tmp: Path) -> Path:
    npm = shutil.which("npm")
    if not npm:
        raise RevealMissing("npm is not installed")
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--no-save", "--loglevel=error",
                    "--prefix", str(tmp), f"reveal.js@{REVEAL_VERSION}"], check=True, capture_output=True, text=True)
    return tmp / "node_modules" / "reveal.js"


def _from_wheel(tmp: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    "--dest", str(tmp), REVEAL_WHEEL], check=True, capture_output=True, text=True)
    wheel = next(tmp.glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if member.startswith(REVEAL_IN_WHEEL) and not member.endswith("/"):
                target = tmp / "reveal" / member[len(REVEAL_IN_WHEEL):]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(member))
    return tmp / "reveal"


def install_reveal(dest: Path | None = None) -> Path:
    """A local reveal.js (from the npm registry, else from PyPI) for decks that open offline. Idempotent."""
    dest = Path(dest or reveal_dir())
    if _reveal_ok(dest):
        return dest
    problems = []
    for source in (_from_npm, _from_wheel):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                found = source(Path(tmp))
            except (RevealMissing, subprocess.CalledProcessError, OSError, StopIteration, zipfile.BadZipFile) as err:
                detail = getattr(err, "stderr", "") or ""
                problems.append(f"{source.__name__[1:]}: {err} {detail.strip()[-300:]}".strip())
                continue
            if _reveal_ok(found):
                with paths.atomic_folder(dest) as folder:
                    _keep_needed(found, folder)
                return dest
            problems.append(f"{source.__name__[1:]}: no reveal.js 5 build in what it installed")
    raise RevealMissing(f"could not install reveal.js {REVEAL_VERSION} into {dest}:\n  " + "\n  ".join(problems)
                        + "\nInstall Node.js and npm (e.g. `apt-get install npm`) or check that the package "
                          "registries can be reached, then run `make setup` again.")


def copy_reveal(out_dir: Path, source: Path | None = None) -> Path:
    """Copy the local reveal.js beside the decks (so the folder is self-contained) and check that none of
    its stylesheets loads anything from the network."""
    source = Path(source or reveal_dir())
    if not _reveal_ok(source):
        raise RevealMissing(f"reveal.js is not installed in {source}: run `make setup` "
                            "(or `python -m labsutil slides --install`) while the package registries can be reached")
    target = out_dir / REVEAL_PREFIX
    _keep_needed(source, target)
    for css in target.rglob("*.css"):
        remote = htmlexport.remote_references(css.read_text(encoding="utf-8"), stylesheet=True)
        if remote:
            raise RuntimeError(f"{css} would load {remote} from the network")
    return target


# ---- the measured slides ----------------------------------------------------------------------

def _slide(source: str):
    from nbformat.v4 import new_markdown_cell

    return new_markdown_cell(source, metadata={"slideshow": {"slide_type": "slide"}})


def _lab_status(run_dir: Path, lab: str) -> str | None:
    return next((r.status for r in report.load_results(run_dir) if r.lab == lab), None)


def placeholder_slide(lab: str, why: str):
    return _slide(f"## Lab {lab}: measured results\n\n"
                  f"<div class='{PLACEHOLDER_CLASS}' data-lab='{html.escape(lab)}'>\n\n"
                  f"**No measured results yet: run `make labs` first**, then `make slides`.\n\n"
                  f"<small>{html.escape(why)}</small>\n\n</div>")


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"<img src='data:image/png;base64,{data}' alt='{html.escape(path.stem)}'>"


def lab_slides(run_dir: Path | None, lab: str) -> list:
    """The measured slides of one lab: its headline table, then its plots; or the 'run make labs' slide."""
    if run_dir is None:
        return [placeholder_slide(lab, "No run yet: runs/latest does not exist.")]
    if not Path(run_dir).is_dir():
        return [placeholder_slide(lab, f"No run found at {run_dir}.")]
    run_dir = Path(run_dir)
    table = report.lab_headline(run_dir, lab)
    if not table.rows:
        status = _lab_status(run_dir, lab)
        why = (f"Run {run_dir.name}: lab {lab} {status}, with no results recorded." if status
               else f"Run {run_dir.name} has no results for lab {lab}.")
        return [placeholder_slide(lab, why)]
    more = len(table.rows) - MAX_TABLE_ROWS
    note = report.interval_note(table) + (f" {more} more row(s) in runs/{run_dir.name}/index.html." if more > 0 else "")
    slides = [_slide(f"## Lab {lab}: measured in this run\n\n<div class='measured' data-lab='{html.escape(lab)}'>\n\n"
                     f"{table.html(max_rows=MAX_TABLE_ROWS)}\n\n<p class='note'>Run {html.escape(run_dir.name)}. "
                     f"{html.escape(note)}</p>\n\n</div>")]
    for plot in sorted((run_dir / "plots").glob(f"{lab}_*.png"))[:MAX_PLOTS]:
        caption = report.plot_caption(plot.name)
        slides.append(_slide(f"## Lab {lab}: {caption}\n\n<div class='measured plot' data-lab='{html.escape(lab)}'>"
                             f"{_img(plot)}</div>"))
    if lab == ROI_LAB:
        roi = report.roi_summary_html(run_dir, max_rows=MAX_TABLE_ROWS)
        if roi:
            slides.append(_slide(f"## ROI summary\n\n<div class='measured' data-lab='{ROI_LAB}'>{roi}</div>"))
    return slides


def with_results(nb, run_dir: Path | None):
    """The deck with its labs' measured slides after the cell tagged `results` (else at the end)."""
    labs = [str(lab).zfill(2) for lab in nb.metadata.get("labsutil", {}).get("labs", [])]
    generated = [cell for lab in labs for cell in lab_slides(run_dir, lab)]
    tagged = [i for i, cell in enumerate(nb.cells) if "results" in cell.metadata.get("tags", [])]
    at = tagged[0] + 1 if tagged else len(nb.cells)
    nb.cells = nb.cells[:at] + generated + nb.cells[at:]
    return nb


def build_deck(deck: Path, out_dir: Path, run_dir: Path | None) -> Path:
    import nbformat

    nb = with_results(nbformat.read(deck, as_version=4), run_dir)
    out = Path(out_dir) / f"{Path(deck).stem}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(htmlexport.slides_html(nb, REVEAL_PREFIX, THEME), encoding="utf-8")
    return out


def default_run() -> Path | None:
    latest = paths.runs_dir() / "latest"
    return latest.resolve() if latest.exists() else None


def build_all(decks: list[Path], out_dir: Path, run_dir: Path | None, reveal: Path | None = None) -> list[Path]:
    out_dir = Path(out_dir)
    copy_reveal(out_dir, reveal)
    return [build_deck(deck, out_dir, run_dir) for deck in decks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labsutil slides",
                                     description="Build the slide decks to offline HTML with the run's numbers.")
    parser.add_argument("decks", nargs="*", help="deck notebooks (default: slides/*.ipynb)")
    parser.add_argument("--run", help="run folder whose ledger and plots to show (default: runs/latest)")
    parser.add_argument("--out", help="output folder (default: runs/slides)")
    parser.add_argument("--install", action="store_true", help="only install the local reveal.js copy")
    args = parser.parse_args(argv)
    try:
        if args.install:
            print(f"reveal.js {REVEAL_VERSION}: {install_reveal()}")
            return 0
        root = paths.repo_root() or Path.cwd()
        decks = [Path(d) for d in args.decks] or sorted((root / "slides").glob("*.ipynb"))
        run_dir = Path(args.run).resolve() if args.run else default_run()
        out_dir = Path(args.out) if args.out else paths.runs_dir() / "slides"
        built = build_all(decks, out_dir, run_dir)
    except RevealMissing as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    source = f"run {run_dir.name}" if run_dir else "no run yet (run `make labs` first for measured slides)"
    print(f"{len(built)} deck(s) in {out_dir} ({source}); open {built[0] if built else out_dir}")
    return 0

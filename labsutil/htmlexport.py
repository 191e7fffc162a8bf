"""Notebooks to HTML that opens offline: the run report's notebook pages and the slide decks.

nbconvert's stock templates load RequireJS, jQuery, MathJax, Mermaid and the widget manager from
public CDNs, so an exported notebook or deck opened in a room without network shows unstyled text
and does not page. The templates under `templates/` extend the stock ones and drop every remote
script; the slide template loads reveal.js from a relative path (a local copy, see labsutil.slides).
Math in markdown is shown as written (no MathJax is loaded); no lab uses it. Outputs that need a
script to render (widgets, JavaScript, Mermaid) show their text form instead of an empty box.
"""
from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"
LAB_TEMPLATE = "offline_lab"
REVEAL_TEMPLATE = "offline_reveal"
# nbconvert's HTML priority without the kinds of output that only a script loaded from a CDN can draw.
OUTPUT_PRIORITY = ["text/html", "text/markdown", "image/svg+xml", "text/latex", "image/png", "image/jpeg", "text/plain"]

# What makes a browser fetch something: an element's src, a <link>'s href (stylesheets, icons,
# preloads), CSS @import / url() in a <style> block or a stylesheet, an ES module import in a <script>.
# Plain <a href> links are navigation, not loads; text inside cells is escaped and never matches.
_TAG_LOADS = (
    re.compile(r"<(?:script|img|iframe|source|embed|audio|video)\b[^>]*?\ssrc\s*=\s*[\"']?([^\"'\s>]+)", re.I),
    re.compile(r"<link\b[^>]*?\shref\s*=\s*[\"']?([^\"'\s>]+)", re.I),
)
_CSS_LOADS = (re.compile(r"@import\s+(?:url\()?\s*[\"']?([^\"')\s;]+)", re.I),
              re.compile(r"url\(\s*[\"']?([^\"')\s]+)", re.I))
_JS_LOADS = (re.compile(r"\bimport\b[^;()]*?\bfrom\s*[\"']([^\"']+)[\"']"),
             re.compile(r"\bimport\s*\(\s*[\"']([^\"']+)[\"']"))
_REMOTE = re.compile(r"^(?:https?:)?//", re.I)
_STYLE = re.compile(r"(<style\b[^>]*>)(.*?)(</style>)", re.I | re.S)
_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script>", re.I | re.S)
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
# An obsolete Chrome Frame hint in nbconvert's reveal template; it loads nothing but reads like a URL.
_CHROME_FRAME = re.compile(r"<meta\b[^>]*X-UA-Compatible[^>]*>\s*", re.I)


def _matches(patterns, texts) -> set[str]:
    return {m.group(1) for text in texts for pattern in patterns for m in pattern.finditer(text)}


def remote_references(text: str, stylesheet: bool = False) -> list[str]:
    """Every URL in an HTML page (or, with `stylesheet`, a CSS file) that would be fetched from another
    machine."""
    if stylesheet:
        found = _matches(_CSS_LOADS, [text])
    else:
        found = (_matches(_TAG_LOADS, [text]) | _matches(_CSS_LOADS, [m.group(2) for m in _STYLE.finditer(text)])
                 | _matches(_JS_LOADS, _SCRIPT.findall(text)))
    return sorted(url for url in found if _REMOTE.match(url))


def _tidy(page: str) -> str:
    """Drop CSS comments (they carry the URLs of the stylesheets' authors) and the Chrome Frame hint,
    so that `grep http` on a built page finds only links a reader can follow."""
    page = _STYLE.sub(lambda m: m.group(1) + _CSS_COMMENT.sub("", m.group(2)) + m.group(3), page)
    return _CHROME_FRAME.sub("", page)


def _checked(page: str, what: str) -> str:
    page = _tidy(page)
    remote = remote_references(page)
    if remote:  # a template change upstream must not silently bring a CDN back
        raise RuntimeError(f"{what} would load {remote} from the network; the offline template missed them")
    return page


def _offline_config():
    from traitlets.config import Config

    return Config({"NbConvertBase": {"display_data_priority": OUTPUT_PRIORITY}})


def notebook_html(nb) -> str:
    """An executed notebook as one offline HTML page (images embedded, no remote scripts)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name=LAB_TEMPLATE, extra_template_basedirs=[str(TEMPLATES)],
                            config=_offline_config())
    body, _ = exporter.from_notebook_node(nb)
    return _checked(body, "the notebook page")


def export_notebook(notebook: Path, out: Path) -> Path:
    import nbformat

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(notebook_html(nbformat.read(notebook, as_version=4)), encoding="utf-8")
    return out


def slides_html(nb, reveal_prefix: str, theme: str = "white") -> str:
    """A reveal.js deck whose scripts and stylesheets come from `reveal_prefix` (a relative path).

    The theme must take its fonts from reveal.js's own folder: `white` does; `simple`, nbconvert's
    default, imports web fonts from a public CDN."""
    from nbconvert import SlidesExporter

    exporter = SlidesExporter(template_name=REVEAL_TEMPLATE, extra_template_basedirs=[str(TEMPLATES)],
                              reveal_url_prefix=reveal_prefix, reveal_theme=theme, config=_offline_config())
    body, _ = exporter.from_notebook_node(nb)
    return _checked(body, "the slide deck")

"""A Sphinx extension for the book build: no duplicated inline <script>, no second viewport tag.

Sphinx 7.4 re-adds, before writing pages, the scripts that extensions registered after
the builder started (sphinx-thebe and sphinx-togglebutton do, in Jupyter Book 1), under
filename '' where the first copy has None, so they are not recognised as the same. Every
page then declares `THEBE_JS_URL` twice, a JavaScript error in the reader's console.

Each page also carries three `<meta name="viewport">` tags: Sphinx's basic layout writes
one, docutils a second (in `metatags`) and the pydata theme's layout a third. The templates'
two are written as they stand, so the pages are mended once written: the first is kept.
Listed under `sphinx: extra_extensions` in `_config.yml`; the site test would catch its loss.
"""

from __future__ import annotations

import re
from pathlib import Path

VIEWPORT = re.compile(r'\s*<meta name="viewport"[^>]*>')


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"][:] = unique


def one_viewport(html: str) -> str:
    """`html` with its first viewport tag and no other."""
    first = VIEWPORT.search(html)
    return html if first is None else html[: first.end()] + VIEWPORT.sub("", html[first.end() :])


def _keep_one_viewport_tag(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        for page in Path(app.outdir).rglob("*.html"):
            html = page.read_text(encoding="utf-8")
            if html.count('<meta name="viewport"') > 1:
                page.write_text(one_viewport(html), encoding="utf-8")


def setup(app):
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.connect("build-finished", _keep_one_viewport_tag)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

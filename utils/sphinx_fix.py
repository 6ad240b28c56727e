"""A Sphinx extension for the book build: drop duplicated inline <script> tags.

Sphinx 7.4 re-adds, before writing pages, the scripts that extensions registered after
the builder started (sphinx-thebe and sphinx-togglebutton do, in Jupyter Book 1), under
filename '' where the first copy has None, so they are not recognised as the same. Every
page then declares `THEBE_JS_URL` twice, a JavaScript error in the reader's console.
Listed under `sphinx: extra_extensions` in `_config.yml`; the site test would catch its loss.
"""

from __future__ import annotations


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"][:] = unique


def setup(app):
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

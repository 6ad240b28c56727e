"""Build the book with the README's command and open every page in headless Chromium."""

import functools
import http.server
import re
import shlex
import shutil
import subprocess
import threading
from urllib.parse import urlparse

import pytest
import yaml
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.support.ui import WebDriverWait
from test_book import readme_command

from conftest import ROOT
from vitbook.book import chapter_paths, colab_url, load_config
from vitbook.plotting import BOOK_STYLE, MIN_FONT

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]


def page_heading(page: str) -> str:
    """The first '# ' heading of a page's source: the title its HTML page must have."""
    source = ROOT / (page + ".md")
    if source.exists():
        lines = source.read_text().splitlines()
    else:
        import nbformat

        lines = nbformat.read(ROOT / (page + ".ipynb"), as_version=4).cells[0].source.splitlines()
    return next(line[2:].strip() for line in lines if line.startswith("# "))


# Text a reader should never meet: an unfinished promise, or a reference to an issue of
# the project's tracker that a reader of the site or of GitHub cannot see.
UNFINISHED = re.compile(r"will be added|to be added|\bTODO\b|\bTBD\b|placeholder", re.IGNORECASE)
INTERNAL_ISSUE = re.compile(r"\bissues?\s*#?\d+|(?<![\w&])#\d+\b", re.IGNORECASE)
URL = re.compile(r"https?://\S+|\]\([^)]*\)")


def unfinished_or_internal(text: str) -> list[str]:
    """The placeholders and internal issue references in `text` ("#12" inside a URL or a
    link's target, such as a line anchor, is not one), each with the line it is on."""
    found = []
    for line in text.splitlines():
        hits = UNFINISHED.findall(line) + INTERNAL_ISSUE.findall(URL.sub(" ", line))
        found += [f"{hit!r} in: {line.strip()[:160]}" for hit in hits]
    return found


def published_text(page: str) -> list[tuple[str, str]]:
    """(where, text) for a published page: the whole of a .md page, or each markdown cell
    of a chapter (its code and outputs are not prose)."""
    source = ROOT / page
    if source.suffix == ".md" or (ROOT / (page + ".md")).exists():
        source = source if source.suffix == ".md" else ROOT / (page + ".md")
        return [(source.relative_to(ROOT).as_posix(), source.read_text())]
    import nbformat

    notebook = nbformat.read(ROOT / (page + ".ipynb"), as_version=4)
    return [
        (f"{page}.ipynb, cell {i}", cell.source)
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "markdown"
    ]


@pytest.mark.parametrize("page", ["README.md"] + toc_pages())
def test_no_placeholder_or_internal_issue_number_on_a_published_page(page):
    """README.md and every page in _toc.yml say where things stand in words and numbers,
    never "will be added", "TODO", or "issue 11": readers cannot see the project's issues."""
    found = [f"{where}: {hit}" for where, text in published_text(page) for hit in unfinished_or_internal(text)]
    assert not found, "\n".join(found)


def test_the_page_check_finds_placeholders_and_issue_numbers():
    for text in (
        "the CPU accuracy targets are not met (issue 11)",
        "issue 15's GPU target",
        "see Issue #13",
        "fixed in #42.",
        "Colab times will be added beside these",
        "TODO: measure",
        "the figure is TBD",
        "(to be added)",
        "a placeholder row",
    ):
        assert unfinished_or_internal(text), text
    for text in (
        "[a line](https://github.com/vit-book/vit-book/blob/main/x.py#L12)",
        "https://github.com/vit-book/vit-book/issues/11",
        "# 1. Images as sequences of patches",
        "a known issue with 3 seeds",
        "&#8212;",
        "todos and tbds are not words here",
    ):
        assert not unfinished_or_internal(text), text


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The book built by the README's build command (into a temporary folder), served on
    localhost."""
    build = next(part for part in readme_command("Build the book").split("&&") if "jupyter-book" in part)
    out = tmp_path_factory.mktemp("book")
    result = subprocess.run(shlex.split(build) + ["--path-output", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"the book build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    handler = functools.partial(QuietHandler, directory=str(out / "_build" / "html"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    driver = open_browser(1366)  # a common laptop screen; the text column is 757 px
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def phone():
    """A phone's screen, 390 CSS px wide (Chromium's mobile emulation: a desktop window
    cannot be made that narrow)."""
    driver = open_browser(390, mobile=True)
    yield driver
    driver.quit()


def open_browser(width: int, mobile: bool = False):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for program in (CHROMIUM, CHROMEDRIVER):
        assert shutil.which(program), f"{program} is missing: apt-get install chromium chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if mobile:
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": {"width": width, "height": 844}})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def is_local(url: str) -> bool:
    return urlparse(url).hostname in ("127.0.0.1", "localhost", None)


def js_errors(driver) -> list[str]:
    """Severe console entries, except failed loads of external resources (CDN scripts,
    the Colab badge image): the test machine has no internet, a reader's browser has."""
    errors = []
    for entry in driver.get_log("browser"):
        message = entry["message"]
        external_load = "Failed to load resource" in message or "net::ERR_" in message
        if entry["level"] == "SEVERE" and not (external_load and not is_local(message.split()[0])):
            errors.append(message)
    return errors


@pytest.mark.parametrize("page", toc_pages())
def test_page_renders(site, browser, page):
    browser.get(f"{site}/{page}.html")
    assert browser.title.startswith(page_heading(page)), browser.title
    images = browser.execute_script(
        "return [...document.images].map(i => [i.src, i.complete && i.naturalWidth > 0, i.alt])"
    )
    local = [(src, ok, alt) for src, ok, alt in images if is_local(src)]
    if (ROOT / (page + ".ipynb")).exists():
        assert local, "a chapter shows at least one figure"
    assert all(ok for _, ok, _ in local), f"images that did not load: {[s for s, ok, _ in local if not ok]}"
    unlabelled = [src for src, _, alt in local if not alt or alt.endswith(".png")]
    assert not unlabelled, f"images without alt text (set mystnb.image.alt on the cell): {unlabelled}"
    errors = js_errors(browser)
    assert not errors, "\n".join(errors)
    viewports = browser.execute_script("return document.querySelectorAll('meta[name=viewport]').length")
    assert viewports == 1, f"{viewports} viewport tags (vitbook.sphinx_fix keeps one)"


def links_around_image(driver, alt: str) -> list[str]:
    """The targets of the links that wrap an image with this alt text."""
    return driver.execute_script(
        "return [...document.querySelectorAll('a')].filter(a => [...a.querySelectorAll('img')]"
        ".some(i => i.alt === arguments[0])).map(a => a.href)",
        alt,
    )


@pytest.fixture(scope="module")
def offline():
    """A desktop browser that reaches nothing but this machine: every https request (CDNs,
    badges) is blocked, as in a classroom behind a firewall."""
    driver = open_browser(1366)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["https://*"]})
    yield driver
    driver.quit()


UNTYPESET = """return [...document.querySelectorAll('.math')]
    .map(m => [m.querySelector('mjx-container') !== null, m.textContent.trim().slice(0, 60)])"""


@pytest.mark.parametrize("page", toc_pages())
def test_math_is_typeset_with_no_network(site, offline, page):
    """MathJax is served with the site (sphinx-mathjax-offline), so every formula is typeset
    with no network; none is left as raw TeX."""
    offline.get(f"{site}/{page}.html")
    formulas = offline.execute_script(UNTYPESET)
    try:
        WebDriverWait(offline, 30).until(lambda d: all(done for done, _ in d.execute_script(UNTYPESET)))
    except TimeoutException:
        raw = [tex for done, tex in offline.execute_script(UNTYPESET) if not done]
        pytest.fail(f"{len(raw)} formulas left as raw TeX (is MathJax served with the site?): {raw[:3]}")
    if page == chapter_paths(ROOT)[0].with_suffix("").as_posix():
        assert len(formulas) > 10, "chapter 1 writes its shapes as formulas"


@pytest.mark.parametrize("chapter", chapter_paths(ROOT), ids=str)
def test_colab_launch_button_and_badge(site, browser, chapter):
    browser.get(f"{site}/{chapter.with_suffix('.html').as_posix()}")
    expected = colab_url(load_config(ROOT), chapter)
    assert links_around_image(browser, "Colab logo") == [expected], "the launch button"
    assert links_around_image(browser, "Open In Colab") == [expected], "the badge"


@pytest.mark.parametrize("chapter", chapter_paths(ROOT), ids=str)
def test_solutions_are_collapsed(site, browser, chapter):
    """Solution code and answers are on the page but not displayed until opened."""
    browser.get(f"{site}/{chapter.with_suffix('.html').as_posix()}")
    hidden = browser.execute_script("""
        const code = [...document.querySelectorAll('pre')]
            .filter(p => p.textContent.includes('### BEGIN SOLUTION'));
        const answers = [...document.querySelectorAll('.admonition.dropdown p:not(.admonition-title)')];
        // hidden: inside a closed <details> (code) or a collapsed dropdown (zero height)
        const shown = el => el.checkVisibility() && el.offsetHeight > 0;
        return [code.length, code.some(shown), answers.length, answers.some(shown)];
    """)
    n_code, code_shown, n_answers, answers_shown = hidden
    assert n_code >= 1 and not code_shown, "solution code must be collapsed (tag the cell hide-input)"
    assert n_answers >= 1 and not answers_shown, "conceptual solutions must be collapsed"


def test_the_chapter_navigation_opens_on_a_phone(site, phone):
    """The sidebar button (☰) opens the list of chapters on a 390-px screen."""
    phone.get(f"{site}/{chapter_paths(ROOT)[0].with_suffix('.html').as_posix()}")
    nav_links = (
        "return [...document.querySelectorAll('.bd-sidebar-primary a.reference')]"
        ".filter(a => a.checkVisibility() && a.getBoundingClientRect().right > 0).length"
    )
    assert phone.execute_script(nav_links) == 0, "the navigation starts closed on a phone"
    phone.find_element("css selector", "button.primary-toggle").click()
    WebDriverWait(phone, 5).until(lambda d: d.execute_script(nav_links) >= len(chapter_paths(ROOT)))


def test_no_second_navigation_bar_on_the_desktop(site, browser):
    """Only the book theme's header: no extra navbar with a second search box."""
    browser.get(f"{site}/{chapter_paths(ROOT)[0].with_suffix('.html').as_posix()}")
    bars = browser.execute_script(
        "return [...document.querySelectorAll('.bd-header')]"
        ".filter(b => b.checkVisibility() && b.offsetHeight > 0).length"
    )
    searches = browser.execute_script(
        "return [...document.querySelectorAll('.search-button, "
        ".search-button-field')].filter(b => b.checkVisibility()).length"
    )
    assert bars == 0 and searches == 1


@pytest.mark.parametrize("chapter", chapter_paths(ROOT), ids=str)
def test_outputs_read_well_on_the_page(site, browser, chapter):
    """Consecutive prints make one output box; error messages wrap inside the column; and
    the smallest figure text (MIN_FONT points, the least any figure may use) is at least
    9 px as rendered: no figure is shrunk below PAGE_WIDTH inches' worth of the column."""
    browser.get(f"{site}/{chapter.with_suffix('.html').as_posix()}")
    split = browser.execute_script(
        "return [...document.querySelectorAll('.cell_output > .output.stream')]"
        ".filter(o => o.nextElementSibling && o.nextElementSibling.matches('.output.stream')).length"
    )
    assert split == 0, "consecutive prints should merge (nb_merge_streams)"
    cut = browser.execute_script(
        "return [...document.querySelectorAll('.cell_output pre')]"
        ".filter(p => /^\\w*(Error|Exception): /m.test(p.textContent) && p.scrollWidth > p.clientWidth + 1)"
        ".map(p => p.textContent.slice(0, 80))"
    )
    assert not cut, f"error messages wider than the column: {cut}"
    scales = browser.execute_script(
        "return [...document.querySelectorAll('.cell_output img')].filter(i => i.naturalWidth)"
        ".map(i => [i.alt, i.width / i.naturalWidth])"
    )
    assert scales
    px_per_point = {alt: scale * BOOK_STYLE["figure.dpi"] / 72 for alt, scale in scales}
    small = {alt: round(MIN_FONT * p, 1) for alt, p in px_per_point.items() if MIN_FONT * p < 9}
    assert not small, f"figures whose {MIN_FONT}-point text is under 9 px on the page: {small}"


@pytest.mark.parametrize("page", toc_pages())
def test_tables_fit_a_phones_column(site, phone, page):
    phone.get(f"{site}/{page}.html")
    wide = phone.execute_script(
        "return [...document.querySelectorAll('article table')].filter(t => t.scrollWidth > "
        "(t.closest('.pst-scrollable-table-container') || t.parentElement).clientWidth + 1)"
        ".map(t => t.rows[0].textContent.trim().replace(/\\s+/g, ' ').slice(0, 60))"
    )
    assert not wide, f"tables wider than a phone's column (_static/book.css): {wide}"


@pytest.mark.parametrize("chapter", chapter_paths(ROOT), ids=str)
def test_figures_read_on_a_phone_or_open_full_size(site, phone, chapter):
    """On a 390-px screen a figure's smallest text (MIN_FONT points) is at least 8 px, or a
    tap on the figure opens it full size (_static/figures.js)."""
    phone.get(f"{site}/{chapter.with_suffix('.html').as_posix()}")
    figures = phone.execute_script(
        "return [...document.querySelectorAll('.cell_output img')].filter(i => i.naturalWidth)"
        ".map(i => [i.alt, i.width / i.naturalWidth, i.closest('a') ? i.closest('a').href === i.src : false])"
    )
    assert figures
    unreadable = [
        alt for alt, scale, opens in figures if MIN_FONT * scale * BOOK_STYLE["figure.dpi"] / 72 < 8 and not opens
    ]
    assert not unreadable, f"figures too small to read on a phone that do not open full size: {unreadable}"

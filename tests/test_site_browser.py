"""The web book and JupyterLab in a real browser: headless Chromium (Debian's) driven by Selenium.

Runs only in `make test-site`, which builds the site first and sets SITE_BROWSER_TEST=1 and
SITE_REQUIRE_CHROMIUM=1 (then a missing Chromium, chromedriver or Selenium fails instead of skipping).
Every page of _build/site is served on 127.0.0.1 and checked for: its title, typeset math, loaded
images with alt text, no console error, no request to any host but 127.0.0.1, previous/next links
that resolve in series order, a table of contents, a notebook download and launch links. JupyterLab is
started with the project's own `make lab` and must render notebook 04. Screenshots of two pages go to
_build/screenshots/ (not committed).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "site"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
# The in-browser copy that `make site` puts inside the web book (built by `make lite`).
LITE = SITE / "lite"
# Launch buttons exist only for a configured repository (site/conf.py).
REPOSITORY_URL = os.environ.get("SITE_REPOSITORY_URL", "").strip()
# axe-core's browser bundle, unpacked by `make test-site` from the npm registry (pinned there).
AXE_JS = ROOT / "_build" / "axe-core" / "package" / "axe.min.js"
# A phone and a laptop: every page must fit both.
WIDTHS = (390, 1280)
# MathJax, images and scripts have this long to finish on a loaded 2-core machine.
PAGE_TIMEOUT_S = 60

pytestmark = pytest.mark.skipif(os.environ.get("SITE_BROWSER_TEST") != "1",
                                reason="the web book's browser test runs in `make test-site`")


def _unavailable(reason: str):
    if os.environ.get("SITE_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"{reason}; SITE_REQUIRE_CHROMIUM=1 is set, so this is an error, not a skip",
                    pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site_url():
    if not (SITE / "index.html").exists():
        pytest.fail(f"{SITE} is not built: run `make test-site` (it runs `make site` first)", pytrace=False)
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", _free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
    except ImportError:
        _unavailable("selenium is not installed (pip install -e '.[site]')")
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        _unavailable("Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    # Selenium Manager would otherwise look for a driver online.
    os.environ["SE_OFFLINE"] = "true"
    profile = tempfile.mkdtemp(prefix="site-test-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,900", f"--user-data-dir={profile}",
                 # Belt and braces: no name but 127.0.0.1 resolves, so a stray request cannot leave the
                 # machine; it still shows in the performance log, where the test catches it.
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    driver.set_script_timeout(PAGE_TIMEOUT_S)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _drain_logs(driver) -> tuple[list[str], list[str]]:
    """(console errors, request URLs) since the last call."""
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return errors, urls


def _off_machine(urls: list[str], allowed_schemes=("http", "https", "ws")) -> list[str]:
    """Request URLs that would leave 127.0.0.1 (data:, blob: and about: URLs never do)."""
    return [url for url in urls if urllib.parse.urlsplit(url).scheme in allowed_schemes
            and urllib.parse.urlsplit(url).hostname != "127.0.0.1"]


def _wait(driver, script: str, what: str, timeout_s: float = PAGE_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _wait_for_mathjax(driver):
    """Wait until MathJax has typeset the page (it is loaded only on pages that have math)."""
    _wait(driver, "return document.readyState === 'complete'", "the page to load")
    has_mathjax = driver.execute_script("return !!document.querySelector('script[src*=\"mathjax\"]')")
    if has_mathjax:
        _wait(driver, "return !!(window.MathJax && MathJax.startup && MathJax.startup.promise)",
              "MathJax to start")
        driver.execute_async_script("const done = arguments[arguments.length - 1];"
                                    "MathJax.startup.promise.then(() => done(true), e => done(String(e)));")
    return has_mathjax


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200, f"{url}: HTTP {response.status}"
        return response.read()


PAGE_FACTS = """
const article = document.querySelector('article.bd-article') || document.body;
const text = [...article.querySelectorAll('p, li, td, th, h1, h2, h3, h4, dd')]
  .filter(e => !e.closest('pre, code, .cell_output'))
  .map(e => e.innerText).join('\\n');
const images = [...article.querySelectorAll('img')];
const link = selector => { const a = document.querySelector(selector); return a ? a.href : null; };
return {
  title: document.title,
  h1: (article.querySelector('h1') || {innerText: ''}).innerText.replace(/#$/, '').trim(),
  text: text,
  mathSources: article.querySelectorAll('span.math, div.math').length,
  mathTypeset: article.querySelectorAll('mjx-container').length,
  mathUntypeset: [...article.querySelectorAll('span.math, div.math')]
    .filter(e => !e.querySelector('mjx-container')).length,
  images: images.map(i => ({src: i.src, alt: i.alt, loaded: i.complete && i.naturalWidth > 0})),
  prev: link('a.left-prev'),
  next: link('a.right-next'),
  tocLinks: document.querySelectorAll('#pst-page-toc-nav a, .bd-toc-nav a').length,
  download: link('a.btn-download-source-button'),
  binder: link('a[href*="mybinder.org"]'),
  colab: link('a[href*="colab.research.google.com"]'),
  repository: link('a[href*="github.com"], a[href*="gitlab.com"]'),
  placeholders: [...document.querySelectorAll('a[href]')].map(a => a.href)
    .filter(h => /OWNER|placeholder|example[.](com|org)/i.test(h)),
  runInBrowser: link('a.run-in-browser'),
};
"""


def _page_urls(site_url: str) -> list[str]:
    return [site_url + "index.html"] + [f"{site_url}notebooks/{path.stem}.html" for path in NOTEBOOKS]


def _notebook_facts(path: Path) -> dict:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    markdown = "".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown")
    pngs = sum("image/png" in output.get("data", {})
               for cell in notebook["cells"] for output in cell.get("outputs", []))
    heading = next(line for line in markdown.splitlines() if line.startswith("# "))
    return {"has_math": "$" in markdown, "pngs": pngs, "heading": heading[2:].strip()}


def test_every_page_renders_offline_in_chromium(browser, site_url):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    urls = _page_urls(site_url)
    assert len(urls) == len(NOTEBOOKS) + 1 >= 12, "the landing page and one page per numbered notebook"
    _drain_logs(browser)
    report = []
    for i, url in enumerate(urls):
        browser.get(url)
        has_mathjax = _wait_for_mathjax(browser)
        facts = browser.execute_script(PAGE_FACTS)
        errors, requested = _drain_logs(browser)
        name = url.removeprefix(site_url)

        # title: the page's own heading, then the book's name
        assert facts["h1"] and facts["title"].startswith(facts["h1"]), (name, facts["title"], facts["h1"])
        assert "Encoder block internals" in facts["title"], (name, facts["title"])
        # no console errors, nothing fetched from anywhere but this server
        assert errors == [], f"{name}: console errors {errors}"
        assert requested, f"{name}: the performance log saw no request at all"
        assert _off_machine(requested) == [], f"{name}: requests leaving 127.0.0.1: {_off_machine(requested)}"
        # math: every math element typeset by MathJax, no raw TeX delimiters left in the prose
        assert facts["mathUntypeset"] == 0, f"{name}: {facts['mathUntypeset']} math elements not typeset"
        for delimiter in ("$$", "\\(", "\\[", "\\begin{"):
            assert delimiter not in facts["text"], f"{name}: raw {delimiter!r} left in the text"
        # images: every one loaded and described
        for image in facts["images"]:
            assert image["loaded"], f"{name}: image {image['src']} did not load"
            assert image["alt"].strip(), f"{name}: image {image['src']} has no alt text"
        # previous / next in series order, and each link's target is served
        expected_prev = urls[i - 1] if i > 0 else None
        expected_next = urls[i + 1] if i + 1 < len(urls) else None
        assert facts["prev"] == expected_prev, (name, facts["prev"], expected_prev)
        assert facts["next"] == expected_next, (name, facts["next"], expected_next)
        for target in (facts["prev"], facts["next"]):
            if target:
                assert b"<html" in _fetch(target), f"{name}: {target} is not a page"

        if i == 0:
            report.append(f"{name}: title {facts['title']!r}")
            continue
        notebook = _notebook_facts(NOTEBOOKS[i - 1])
        assert facts["h1"] == notebook["heading"], (name, facts["h1"], notebook["heading"])
        assert facts["h1"].startswith(NOTEBOOKS[i - 1].stem[:2]), (name, facts["h1"])
        if notebook["has_math"]:
            assert has_mathjax and facts["mathSources"] > 0, f"{name}: the notebook has math, the page none"
            assert facts["mathTypeset"] >= facts["mathSources"], (name, facts["mathTypeset"], facts["mathSources"])
        plots = [image for image in facts["images"] if "/_images/" in image["src"]]
        assert len(plots) == notebook["pngs"], f"{name}: {len(plots)} plots shown, {notebook['pngs']} stored"
        assert facts["tocLinks"] > 0, f"{name}: no table of contents"
        # the download button gives the notebook itself, the launch links open the same file
        assert facts["download"] and facts["download"].endswith(f"{NOTEBOOKS[i - 1].name}"), facts["download"]
        assert json.loads(_fetch(facts["download"]))["cells"], f"{name}: the download is not a notebook"
        # Launch buttons only where a real repository address was configured; never a placeholder.
        assert facts["placeholders"] == [], f"{name}: links to a placeholder: {facts['placeholders']}"
        if REPOSITORY_URL:
            for launch in (facts["binder"], facts["colab"]):
                assert launch and f"notebooks/{NOTEBOOKS[i - 1].name}" in launch, (name, launch)
        else:
            assert facts["binder"] is facts["colab"] is facts["repository"] is None, (name, facts)
        # "Run in the browser": the same notebook's student version in the in-browser copy (lite/)
        expected_lite = f"{site_url}lite/lab/index.html?path={NOTEBOOKS[i - 1].name}"
        assert facts["runInBrowser"] == expected_lite, (name, facts["runInBrowser"])
        assert LITE.exists(), "the site has no lite/ (make site builds it with make lite)"
        assert b"<html" in _fetch(expected_lite.split("?")[0]).lower()
        assert (LITE / "files" / NOTEBOOKS[i - 1].name).exists(), \
            f"{name}: the in-browser copy has no {NOTEBOOKS[i - 1].name}"
        report.append(f"{name}: {facts['mathTypeset']} formulas, {len(plots)} plots, "
                      f"{facts['tocLinks']} toc links, {len(requested)} requests (all 127.0.0.1)")
        if NOTEBOOKS[i - 1].stem.startswith("04"):
            browser.save_screenshot(str(SCREENSHOTS / "site-04_self_attention.png"))
    browser.get(urls[0])
    _wait_for_mathjax(browser)
    browser.save_screenshot(str(SCREENSHOTS / "site-index.png"))
    print("\n".join(report))


def test_landing_page_shows_the_series_and_links_student_versions(browser, site_url):
    browser.get(site_url + "index.html")
    _wait_for_mathjax(browser)
    note = browser.find_element("css selector", "article .admonition").text
    assert "instructor versions" in note and "with worked solutions" in note
    table_links = browser.execute_script(
        "return [...document.querySelectorAll('article table a')].map(a => a.href)")
    assert table_links == [f"{site_url}notebooks/{path.stem}.html" for path in NOTEBOOKS]
    downloads = browser.execute_script(
        "return [...document.querySelectorAll('article a.download')].map(a => a.href)")
    students = sorted((ROOT / "notebooks" / "student").glob("[0-9]*.ipynb"))
    assert [url.rsplit("/", 1)[1] for url in downloads] == [path.name for path in students]
    for url, path in zip(downloads, students):
        # The download is the committed student version (00 has no exercises, so no stub to look for).
        notebook = json.loads(_fetch(url))
        assert notebook == json.loads(path.read_text(encoding="utf-8")), f"{url} is not {path}"
        assert notebook["cells"][0]["id"] == "student-version-header", f"{url} is not a student version"
    # The student versions are downloads, never pages.
    assert not (SITE / "notebooks" / "student").exists()
    _drain_logs(browser)


def test_full_text_search_finds_a_word_inside_a_notebook(browser, site_url):
    browser.get(site_url + "search.html?q=softmax")
    _wait(browser, "return document.querySelectorAll('#search-results li a').length > 0",
          "search results for 'softmax'")
    hits = browser.execute_script("return [...document.querySelectorAll('#search-results li a')].map(a => a.href)")
    assert any("04_self_attention" in hit for hit in hits), hits
    errors, requested = _drain_logs(browser)
    assert errors == [] and _off_machine(requested) == []


def test_a_page_opened_from_disk_typesets_math_and_shows_plots(browser):
    browser.get((SITE / "notebooks" / "04_self_attention.html").as_uri())
    assert _wait_for_mathjax(browser)
    facts = browser.execute_script(PAGE_FACTS)
    assert facts["mathTypeset"] > 0 and facts["mathUntypeset"] == 0
    assert facts["images"] and all(image["loaded"] for image in facts["images"])
    errors, requested = _drain_logs(browser)
    assert errors == [] and _off_machine(requested) == [], (errors, _off_machine(requested))


def test_jupyterlab_from_make_lab_renders_notebook_04(browser, tmp_path):
    port = _free_port()
    lab_args = " ".join([
        "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
        "--IdentityProvider.token=", "--ServerApp.password=",
        # A fresh workspace, and no news or update checks (they would ask the internet).
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ])
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    log = (tmp_path / "lab.log").open("w")
    lab = subprocess.Popen(["make", "--no-print-directory", "lab", f"LAB_ARGS={lab_args}"], cwd=ROOT,
                           env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           start_new_session=True)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                json.loads(_fetch(base + "api/status"))
                break
            except OSError:
                assert lab.poll() is None, "make lab exited:\n" + (tmp_path / "lab.log").read_text()
                assert time.monotonic() < deadline, "JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()
                time.sleep(0.5)
        _drain_logs(browser)
        browser.get(base + "lab/tree/04_self_attention.ipynb")
        _wait(browser, "return document.querySelectorAll('.jp-Notebook .jp-Cell').length > 10",
              "JupyterLab to show notebook 04's cells")
        _wait(browser, "return [...document.querySelectorAll('.jp-Notebook .jp-RenderedImage img')]"
                       ".some(i => i.complete && i.naturalWidth > 0)", "a plot in notebook 04")
        _wait(browser, "return document.querySelectorAll('.jp-Notebook .jp-RenderedMarkdown mjx-container').length > 0",
              "typeset math in notebook 04")
        cells = browser.execute_script("return document.querySelectorAll('.jp-Notebook .jp-Cell').length")
        title = browser.execute_script("return document.querySelector('.jp-RenderedMarkdown h1').innerText")
        assert title.startswith("04"), title
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOTS / "jupyterlab-04_self_attention.png"))
        errors, requested = _drain_logs(browser)
        assert _off_machine(requested) == [], f"JupyterLab requested {_off_machine(requested)}"
        assert errors == [], f"JupyterLab console errors: {errors}"
        print(f"JupyterLab: {cells} cells rendered, title {title!r}, {len(requested)} requests (all 127.0.0.1)")
    finally:
        os.killpg(lab.pid, signal.SIGTERM)  # jupyter_server shuts its kernels down on SIGTERM
        try:
            lab.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
            lab.wait()
        log.close()
    assert lab.returncode is not None


LAYOUT_FACTS = """
const viewport = document.documentElement.clientWidth;
const column = (document.querySelector('article.bd-article') || document.body).getBoundingClientRect();
const outside = e => { const r = e.getBoundingClientRect();
  return r.width > 0 && (r.left < column.left - 1 || r.right > column.right + 1); };
const describe = e => (e.innerText || e.textContent || '').trim().slice(0, 60);
const toc = document.querySelector('.bd-sidebar-secondary .sidebar-secondary__inner');
return {
  viewport: viewport,
  pageWidth: document.documentElement.scrollWidth,
  codeCells: document.querySelectorAll('div.cell_input pre').length,
  codeOverflow: [...document.querySelectorAll('div.cell_input pre')]
    .filter(p => p.scrollWidth > p.clientWidth + 1 || outside(p)).map(describe),
  equationsOutside: [...document.querySelectorAll('div.math, mjx-container[display="true"]')]
    .filter(outside).map(describe),
  outputsOutside: [...document.querySelectorAll('div.cell_output')].filter(outside).length,
  tocClipped: toc && getComputedStyle(toc).display !== 'none' && toc.getBoundingClientRect().width > 0
    ? toc.scrollWidth > toc.clientWidth + 1 : false,
};
"""


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_the_screen(browser, site_url, width):
    """At a phone's and a laptop's width: no page wider than the screen, code cells and display
    equations inside the text column (an equation may scroll inside itself), a table of contents
    that is not clipped."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})
    try:
        problems = []
        for url in _page_urls(site_url):
            browser.get(url)
            _wait_for_mathjax(browser)
            facts = browser.execute_script(LAYOUT_FACTS)
            name = url.removeprefix(site_url)
            if facts["pageWidth"] > facts["viewport"]:
                problems.append(f"{name}: page {facts['pageWidth']} px wide in a {facts['viewport']} px window")
            if facts["codeOverflow"]:
                problems.append(f"{name}: {len(facts['codeOverflow'])} of {facts['codeCells']} code cells "
                                f"overflow the column, e.g. {facts['codeOverflow'][0]!r}")
            if facts["equationsOutside"]:
                problems.append(f"{name}: equations outside the column: {facts['equationsOutside'][:2]}")
            if facts["outputsOutside"]:
                problems.append(f"{name}: {facts['outputsOutside']} outputs outside the column")
            if facts["tocClipped"]:
                problems.append(f"{name}: the table of contents is clipped")
        assert problems == [], f"at {width} px:\n" + "\n".join(problems)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOTS / f"site-{width}px-last-page.png"))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    _drain_logs(browser)


@pytest.mark.parametrize("width", WIDTHS)
def test_axe_finds_no_accessibility_violation(browser, site_url, width):
    """axe-core (all default rules plus label-content-name-mismatch) on the landing page and two
    notebook pages."""
    if not AXE_JS.exists():
        _unavailable(f"axe-core is not unpacked at {AXE_JS} (`make test-site` does it)")
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})
    try:
        found = {}
        for url in [site_url + "index.html", f"{site_url}notebooks/{NOTEBOOKS[4].stem}.html",
                    f"{site_url}notebooks/{NOTEBOOKS[-1].stem}.html"]:
            browser.get(url)
            _wait_for_mathjax(browser)
            browser.execute_script(AXE_JS.read_text(encoding="utf-8"))
            violations = browser.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "axe.run({rules: {'label-content-name-mismatch': {enabled: true}}})"
                ".then(r => done(r.violations.map(v => [v.id, v.nodes.length,"
                " v.nodes.slice(0, 2).map(n => n.target.join(' '))])), e => done([['axe failed', 0, [String(e)]]]));")
            if violations:
                found[url.removeprefix(site_url)] = violations
        assert found == {}, f"at {width} px: {found}"
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    _drain_logs(browser)

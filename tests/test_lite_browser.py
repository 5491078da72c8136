"""Every notebook in the offline browser version (JupyterLite + Pyodide), run in headless Chromium.

Runs only in `make test-lite`, which builds the site first (`make lite`) and sets LITE_BROWSER_TEST=1
(then a missing Chromium, chromedriver or Selenium fails instead of skipping). The built site
(_build/lite) is served on 127.0.0.1; each instructor notebook is opened in the site's notebook app and
run top to bottom in the Pyodide kernel (Run All), several browsers side by side. Asserted per notebook:
no error output (apart from errors the stored notebook shows too), every plot rendered as an image,
and every output that nbval compares equal to the stored one (cells marked NBVAL_IGNORE_OUTPUT or
NBVAL_SKIP are exempt, as under nbval, and so are cells tagged browser-wall-clock, which print
wall-clock timings in the browser). And for the whole run: no request left 127.0.0.1, checked twice.
1. Chrome's DevTools log (performance log) lists every request of the pages: each must go to 127.0.0.1.
   It does not see the web worker the Pyodide kernel runs in, hence:
2. Chromium is given a proxy that only records: loopback never uses a proxy, so anything it receives
   was headed off the machine, from a page, a worker or the browser itself. Chromium itself contacts a few services of its own even on about:blank
   with every background flag set (BROWSER_OWN below, measured that way); anything else fails.

Timings go to _build/lite-test-times.txt.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import queue
import shutil
import socket
import socketserver
import sys
import urllib.parse
import tempfile
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "lite"
TIMES = ROOT / "_build" / "lite-test-times.txt"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
# Cells that time with the wall clock in the browser (Pyodide has no per-thread clock, and other programs on
# the machine, such as the other browsers of this test, move wall-clock times): they must run without error
# and draw their plots, but what they print is their own measurement, not the stored one.
WALL_CLOCK_TAG = "browser-wall-clock"
# While debugging one notebook: LITE_NOTEBOOKS="04_self_attention.ipynb 10_pretrained_minilm.ipynb".
if os.environ.get("LITE_NOTEBOOKS"):
    NOTEBOOKS = [p for p in NOTEBOOKS if p.name in os.environ["LITE_NOTEBOOKS"].split()]
# Browsers side by side: each runs its notebooks one after the other (one Pyodide kernel each).
WORKERS = int(os.environ.get("LITE_WORKERS", "3"))
# One notebook, kernel start included, on a loaded 2-core machine.
NOTEBOOK_TIMEOUT_S = int(os.environ.get("LITE_NOTEBOOK_TIMEOUT", "900"))
COMPARED_MIMES = ("text/plain", "text/html", "image/svg+xml")
# Hosts Debian's Chromium 156 contacts by itself, seen with only about:blank open and the flags below:
# component updates, network time, sign-in, the default search engine's preconnect, optimisation hints.
BROWSER_OWN = {"update.googleapis.com", "clients2.google.com", "accounts.google.com", "start.duckduckgo.com",
               "optimizationguide-pa.googleapis.com",
               # the browser's autofill service, asked about the notebook page's input fields
               "content-autofill.googleapis.com"}

if os.environ.get("LITE_BROWSER_TEST") != "1":
    # One skip line for the module, not one per notebook, in `make test`.
    pytest.skip("the browser version's test runs in `make test-lite`", allow_module_level=True)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".wasm": "application/wasm", ".mjs": "text/javascript", ".js": "text/javascript",
                      ".json": "application/json", ".ipynb": "application/json"}

    def log_message(self, *args):
        pass


class _RecordingProxy(socketserver.ThreadingTCPServer):
    """Records the first line of every request it gets, and refuses it."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.seen: list[str] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                line = self.rfile.readline(2048).decode("latin-1").strip()
                if line:
                    outer.seen.append(line)
                self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

        super().__init__(("127.0.0.1", 0), Handler)


def _serve(server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


# Runs in the page: waits for the notebook app, runs every cell, then reports the notebook's JSON and
# what the page shows (rendered images, the clock at each step).
START_JS = """
window.__lite = {state: "waiting"};
(async () => {
  const t0 = performance.now();
  const until = async (test) => { while (!test()) { await new Promise(r => setTimeout(r, 200)); } };
  try {
    await until(() => window.jupyterapp && window.jupyterapp.shell.currentWidget
                      && window.jupyterapp.shell.currentWidget.sessionContext);
    const panel = window.jupyterapp.shell.currentWidget;
    await panel.context.ready;
    await panel.sessionContext.ready;
    await until(() => panel.sessionContext.session && panel.sessionContext.session.kernel
                      && panel.sessionContext.session.kernel.status === "idle");
    const ready = performance.now();
    window.__lite.state = "running";
    await window.jupyterapp.commands.execute("notebook:run-all-cells");
    await until(() => panel.sessionContext.session.kernel.status === "idle");
    const done = performance.now();
    // Give the last images a moment to decode before counting them.
    await new Promise(r => setTimeout(r, 500));
    const images = Array.from(panel.content.node.querySelectorAll(".jp-OutputArea-output img"));
    window.__lite = {
      state: "done",
      kernel_seconds: (ready - t0) / 1000,
      run_seconds: (done - ready) / 1000,
      notebook: panel.context.model.toJSON(),
      images_rendered: images.filter(img => img.complete && img.naturalWidth > 0).length,
      images_in_page: images.length,
    };
  } catch (err) {
    window.__lite = {state: "failed", error: String(err && err.stack || err)};
  }
})();
"""


def _browser(proxy_port: int):
    from selenium import webdriver

    profile = tempfile.mkdtemp(prefix="lite-test-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,900", f"--user-data-dir={profile}",
                 "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,AutofillServerCommunication",
                 "--disable-domain-reliability", "--dns-prefetch-disable", "--no-pings",
                 "--disable-client-side-phishing-detection", "--disable-default-apps",
                 # Loopback bypasses the proxy; everything else reaches the recording proxy and stops there.
                 f"--proxy-server=http://127.0.0.1:{proxy_port}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(120)
    driver.set_script_timeout(60)
    return driver, profile


def _requested(driver, urls: list[str]) -> None:
    """Adds the URLs requested since the last call (pages and their workers) to ``urls``."""
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])


def _run_one(driver, base_url: str, name: str, urls: list[str]) -> dict:
    started = time.monotonic()
    driver.get(f"{base_url}notebooks/index.html?path=instructor/{name}")
    driver.execute_script(START_JS)
    while True:
        _requested(driver, urls)
        state = driver.execute_script("return window.__lite.state")
        if state in ("done", "failed"):
            break
        if time.monotonic() - started > NOTEBOOK_TIMEOUT_S:
            return {"state": "timeout", "wall_seconds": time.monotonic() - started}
        time.sleep(2)
    result = driver.execute_script("return window.__lite")
    result["wall_seconds"] = time.monotonic() - started
    _requested(driver, urls)
    print(f"{name}: {result['state']} in {result['wall_seconds']:.0f} s", file=sys.__stderr__, flush=True)  # past pytest's capture
    # Leave the page (and its kernel) before the next notebook.
    driver.get("about:blank")
    return result


@pytest.fixture(scope="session")
def lite_runs():
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.fail("selenium is not installed (pip install -e '.[site]')", pytrace=False)
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Debian's chromium and chromium-driver are not installed", pytrace=False)
    if not (SITE / "notebooks" / "index.html").exists():
        pytest.fail(f"{SITE} is not built: run `make test-lite` (it runs `make lite` first)", pytrace=False)
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager would otherwise look for a driver online.

    server = _serve(http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(SITE))))
    proxy = _serve(_RecordingProxy())
    base_url = f"http://127.0.0.1:{server.server_address[1]}/"
    todo: queue.Queue = queue.Queue()
    for path in NOTEBOOKS:
        todo.put(path.name)
    results: dict[str, dict] = {}
    urls: list[str] = []

    def worker():
        driver, profile = _browser(proxy.server_address[1])
        try:
            while True:
                try:
                    name = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    results[name] = _run_one(driver, base_url, name, urls)
                except Exception as err:  # a crashed page must not hide the other notebooks' results
                    results[name] = {"state": "failed", "error": repr(err)}
        finally:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(min(WORKERS, len(NOTEBOOKS)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = time.monotonic() - started
    server.shutdown()
    proxy.shutdown()

    lines = [f"make test-lite: {len(NOTEBOOKS)} notebooks, {WORKERS} browsers side by side, {total:.0f} s in all",
             f"{'notebook':40} {'state':8} {'kernel s':>9} {'run s':>7} {'wall s':>7}"]
    for name in sorted(results):
        r = results[name]
        lines.append(f"{name:40} {r['state']:8} {r.get('kernel_seconds', float('nan')):9.1f} "
                     f"{r.get('run_seconds', float('nan')):7.1f} {r['wall_seconds'] if 'wall_seconds' in r else float('nan'):7.1f}")
    TIMES.parent.mkdir(exist_ok=True)
    TIMES.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return {"results": results, "proxy": list(proxy.seen), "urls": urls}


def _source_lines(cell) -> list[str]:
    source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    return [line.strip() for line in source.splitlines()]


def _exempt(cell) -> bool:
    """Cells whose output nbval does not compare (marker on its own line, or the tag)."""
    lines = _source_lines(cell)
    tags = cell.get("metadata", {}).get("tags", [])
    return any(m in lines for m in ("# NBVAL_IGNORE_OUTPUT", "# NBVAL_SKIP")) or bool(
        {"nbval-ignore-output", "nbval-skip"} & set(tags))


def _text(value) -> str:
    return value if isinstance(value, str) else "".join(value)


def _compared(outputs: list[dict]) -> list[tuple[str, str]]:
    """What nbval compares, in order: streams merged by name, rich outputs' text, errors' name and value."""
    items: list[tuple[str, str]] = []
    for out in outputs:
        kind = out["output_type"]
        if kind == "stream":
            key = f"stream:{out['name']}"
            if items and items[-1][0] == key:
                items[-1] = (key, items[-1][1] + _text(out["text"]))
            else:
                items.append((key, _text(out["text"])))
        elif kind in ("execute_result", "display_data"):
            for mime in COMPARED_MIMES:
                if mime in out.get("data", {}):
                    items.append((mime, _text(out["data"][mime])))
            if "image/png" in out.get("data", {}):
                items.append(("image/png", "(an image)"))
        elif kind == "error":
            items.append(("error", f"{out['ename']}: {out['evalue']}"))
    return items


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_the_browser(lite_runs, path):
    built = SITE / "files" / "instructor" / path.name
    assert built.exists() and built.read_bytes() == path.read_bytes(), (
        f"{built} is missing or older than {path}: `make lite` rebuilds the site")
    result = lite_runs["results"][path.name]
    assert result["state"] == "done", f"{path.name}: {result['state']}: {result.get('error', '')}"

    stored = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    ran = [c for c in result["notebook"]["cells"] if c["cell_type"] == "code"]
    assert [c["id"] for c in ran] == [c["id"] for c in stored]
    problems = []
    images = 0
    for want, got in zip(stored, ran):
        got_items = _compared(got.get("outputs", []))
        want_items = _compared(want.get("outputs", []))
        images += sum(1 for kind, _ in got_items if kind == "image/png")
        errors = [text for kind, text in got_items if kind == "error"]
        if errors and errors != [text for kind, text in want_items if kind == "error"]:
            problems.append(f"cell {got['id']} raised {errors[0]}")
            continue
        if WALL_CLOCK_TAG in want.get("metadata", {}).get("tags", []):
            # The cell must have taken its browser branch, which says in one line that it does not check.
            if not any(kind == "stream:stdout" and "wall-clock" in text for kind, text in got_items):
                problems.append(f"cell {got['id']} is tagged {WALL_CLOCK_TAG} but did not say it used the wall clock")
            continue
        if _exempt(want):
            continue
        if got_items != want_items:
            problems.append(f"cell {got['id']}:\n  stored:  {want_items}\n  browser: {got_items}")
    stored_images = sum(1 for c in stored for kind, _ in _compared(c.get("outputs", [])) if kind == "image/png")
    if images != stored_images:
        problems.append(f"{images} plots made in the browser, {stored_images} stored")
    if result["images_rendered"] < images:
        problems.append(f"only {result['images_rendered']} of {images} plots rendered in the page")
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def test_no_request_left_the_machine(lite_runs):
    urls = lite_runs["urls"]
    assert any("/notebooks/index.html" in url for url in urls), "the DevTools log shows no page load"
    # Only network schemes can leave the machine (chrome://, data:, blob:, about: are the browser's own).
    away = [url for url in urls if urllib.parse.urlsplit(url).scheme in ("http", "https", "ws", "wss")
            and urllib.parse.urlsplit(url).hostname != "127.0.0.1"]
    hosts = [line.split()[1] for line in lite_runs["proxy"] if len(line.split()) > 1]
    foreign = [line for line, host in zip(lite_runs["proxy"], hosts)
               if (urllib.parse.urlsplit(host).hostname or host.rsplit(":", 1)[0]) not in BROWSER_OWN]
    assert away == [] and foreign == [], (
        "requests headed off 127.0.0.1 while the notebooks ran:\n" + "\n".join(sorted(set(away)) + foreign))

"""The real-browser check of the documentation site, used by tests/test_docs_site.py: serve a
built site on localhost, open every page in headless Chromium (Selenium, Debian's chromium and
chromedriver: nothing downloaded), and report what is broken.

A page is broken when it does not load, links to a page or anchor that is not there, shows an
image that did not load, holds a math element KaTeX did not typeset, or logs a JavaScript
console error (the browser log at SEVERE, which also holds every resource that failed to load
and anything fetched from the network, which the test machine cannot reach).
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import json
import pathlib
import re
import threading
import time
import urllib.parse

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PAGE_TIMEOUT_S = 30


def start_chromium():
    """One headless Chromium session (Selenium imported here: it is optional, the docs extra)."""
    from selenium import webdriver  # deferred: optional (the docs extra)
    from selenium.webdriver.chrome.service import Service  # deferred: optional (the docs extra)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
                "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # the driver's path given: selenium-manager (which would download a driver) does not run
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    driver.set_script_timeout(PAGE_TIMEOUT_S)
    return driver


@contextlib.contextmanager
def serving(site_dir: pathlib.Path):
    """``site_dir`` served on localhost at a free port (a thread); yields the server, whose
    ``base_url`` is the site's address and ``empty_search`` says whether the search index is
    served without its documents (see _SiteHandler)."""
    handler = functools.partial(_SiteHandler, directory=str(site_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.base_url, httpd.empty_search = f"http://127.0.0.1:{httpd.server_address[1]}/", False
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the built site quietly. With ``server.empty_search`` it serves the search index
    with no documents: mkdocs-material's search worker indexes the whole index (1.4 MB) again on
    every page load, which tripled the time per page (8 pages: 7.7 s vs 2.9 s, medians of 3,
    alternated); search itself is checked once, on the real index."""

    def do_GET(self):
        if self.server.empty_search and self.path.split("?")[0].endswith("/search/search_index.json"):
            index = json.loads((pathlib.Path(self.directory) / "search" / "search_index.json").read_text())
            body = json.dumps({"config": index["config"], "docs": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")  # the real index must be fetched for the search check
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, *args):  # one line per request would bury the test output
        pass


def built_pages(site_dir: pathlib.Path) -> list[str]:
    """Every built page, as a URL path relative to the site root ('' for the home page)."""
    pages = []
    for html in sorted(site_dir.rglob("*.html")):
        rel = html.relative_to(site_dir).as_posix()
        if rel == "404.html":
            continue
        pages.append(rel[: -len("index.html")] if rel.endswith("index.html") else rel)
    return pages


_ID = re.compile(r'\b(?:id|name)="([^"]+)"')


@functools.lru_cache(maxsize=None)
def _ids(html_file: pathlib.Path) -> frozenset:
    """The anchor targets (id and name attributes) of a built page; the API pages hold ~1000."""
    return frozenset(_ID.findall(html_file.read_text(encoding="utf-8", errors="replace")))


def _target_file(site_dir: pathlib.Path, path: str) -> pathlib.Path | None:
    """The built file a site URL path is served from, or None."""
    candidate = site_dir / urllib.parse.unquote(path).lstrip("/")
    if candidate.is_dir():
        candidate = candidate / "index.html"
    return candidate if candidate.is_file() else None


# what each page reports, gathered in the page by one script after it loaded
_INSPECT = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach(img => { img.loading = "eager"; });
Promise.all(images.map(img => img.complete ? null : new Promise(ok => {
    img.addEventListener("load", ok); img.addEventListener("error", ok); setTimeout(ok, 5000); })))
.then(() => done({
    article: document.querySelector("article.md-content__inner") !== null,
    links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href),
    broken_images: images.filter(img => !img.complete || img.naturalWidth === 0).map(img => img.src),
    untypeset: Array.from(document.querySelectorAll(".arithmatex"))
        .filter(el => el.dataset.math !== "typeset" || !el.querySelector(".katex"))
        .map(el => el.textContent.slice(0, 80)),
}));
"""


def _search_problems(driver, base: str, query: str = "softmax") -> list[str]:
    """Search works offline: typing ``query`` into the search box lists results."""
    driver.get(base)
    driver.execute_script("document.querySelector('#__search').checked = true")  # open the search dialog
    driver.find_element("css selector", "input.md-search__input").send_keys(query)
    deadline = time.perf_counter() + PAGE_TIMEOUT_S
    while time.perf_counter() < deadline:
        if driver.execute_script("return document.querySelectorAll('.md-search-result__item').length"):
            return []
        time.sleep(0.2)
    return [f"{base}: searching for {query!r} listed no result in {PAGE_TIMEOUT_S} s"]


def check_site(site_dir: pathlib.Path, driver, screenshots: dict[str, pathlib.Path] | None = None,
               query: str = "softmax"):
    """Opens every built page of ``site_dir`` in ``driver``, searches for ``query``, then checks
    every internal link. Returns (problems, pages, links, seconds in the browser); saves
    ``screenshots`` (page -> PNG path) on the way."""
    pages, problems, links = built_pages(site_dir), [], set()
    start = time.perf_counter()
    with serving(site_dir) as server:
        base, server.empty_search = server.base_url, True
        driver.get_log("browser")  # start with an empty log
        for page in pages:
            url = base + page
            driver.get(url)
            report = driver.execute_async_script(_INSPECT)
            if not report["article"]:
                problems.append(f"{url}: did not load (no article element)")
            problems += [f"{url}: image did not load: {src}" for src in report["broken_images"]]
            problems += [f"{url}: math not typeset: {tex!r}" for tex in report["untypeset"]]
            problems += [f"{url}: console {entry['level']}: {entry['message']}" for entry in driver.get_log("browser")
                         if entry["level"] == "SEVERE"]
            links.update((page, href[len(base):]) for href in report["links"] if href.startswith(base))
            for target, path in (screenshots or {}).items():
                if target == page:
                    driver.save_screenshot(str(path))
        server.empty_search = False
        problems += _search_problems(driver, base, query)
    browse_s = time.perf_counter() - start
    for page, href in sorted(links):
        parts = urllib.parse.urlsplit(href)
        target = _target_file(site_dir, parts.path)
        if target is None:
            problems.append(f"/{page}: broken link /{href}")
        elif parts.fragment and target.suffix == ".html" and urllib.parse.unquote(parts.fragment) not in _ids(target):
            problems.append(f"/{page}: link to a missing anchor /{href}")
    return problems, pages, links, browse_s

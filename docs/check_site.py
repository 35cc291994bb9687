"""Open every page of the built site in headless Chromium and check what a reader sees.

    python docs/check_site.py [SITE] [--screenshots DIR] [--chromium PATH] [--width PX]

`nox -s docs_check` builds the site and runs this on it. The site is served on 127.0.0.1
and each page is opened at a width of 1280 px, as a desktop reader would see it. A page
fails when:

- a code block, a table or any other scrolling box of the content overflows sideways
  (`scrollWidth > clientWidth`): the reader would have to scroll to see the end of a line,
  and in a printout or a screenshot it is cut off; or the page itself scrolls sideways;
- an identifier in a table (inline code without spaces) is broken across two lines;
- an image does not load (`naturalWidth == 0`), or any request fails or answers >= 400;
- the page asks for anything outside the site (fonts, scripts from a CDN): the site must
  work in a closed network, so such requests are refused and reported;
- the browser console shows an error, or a script throws.

A full-page screenshot of every page is saved under the screenshots folder
(`site-check/` by default), named after the page (`index.png`, `guide--vae-trainer.png`).

The browser is Debian's `chromium`, driven by Playwright's Python package through its
`executable_path`: Playwright's own browser download is not needed.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import http.server
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Playwright is imported where the browser starts: the tests of this file need none.
if TYPE_CHECKING:
    from playwright.sync_api import (
        Browser,
        ConsoleMessage,
        Page,
        Request,
        Route,
    )


# Chromium runs as root on the machines that build the docs, and must not phone home:
# without these flags it tries to reach Google's servers and logs refused connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--disable-quic",
    "--mute-audio",
]
CHROMIUM_CANDIDATES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "chrome",
)
WIDTH = 1280
HEIGHT = 900
# A box may be this many pixels wider than its client area before it counts as
# overflowing (sub-pixel rounding).
TOLERANCE_PX = 1

# Runs in the page: every box of the content that scrolls sideways, identifiers in tables
# that wrap onto two lines, and images that did not load. A box is described by its tag
# and classes, and for code by its longest line.
MEASURE_JS = """
(tolerance) => {
  const describe = (element) => {
    let name = element.tagName.toLowerCase();
    if (element.id) name += "#" + element.id;
    for (const cls of element.classList) name += "." + cls;
    return name;
  };
  const longestLine = (element) => {
    const lines = (element.innerText || "").split("\\n");
    return lines.reduce((a, b) => (b.length > a.length ? b : a), "");
  };
  const overflowing = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + tolerance) {
    overflowing.push({
      box: "the page", scrollWidth: root.scrollWidth, clientWidth: root.clientWidth,
      text: "",
    });
  }
  const content = document.querySelector(".md-content") || document.body;
  for (const element of content.querySelectorAll("*")) {
    if (element.clientWidth === 0) continue;  // hidden (a closed tab, say)
    const style = getComputedStyle(element);
    const scrolls = ["auto", "scroll"].includes(style.overflowX);
    const measured = element.matches("pre, code, table, .md-typeset__scrollwrap");
    if (!scrolls && !measured) continue;
    if (element.scrollWidth <= element.clientWidth + tolerance) continue;
    let text = "";
    if (element.matches("pre, code")) text = longestLine(element);
    else if (element.matches("table, .md-typeset__scrollwrap, .md-typeset__table")) {
      text = (element.querySelector("tr") || element).innerText.replace(/\\s+/g, " ");
    }
    overflowing.push({
      box: describe(element), scrollWidth: element.scrollWidth,
      clientWidth: element.clientWidth, text: text.slice(0, 160),
    });
  }
  // Code without spaces in a table cell is an identifier: it must not wrap.
  const broken = [];
  for (const code of content.querySelectorAll("table code")) {
    const text = code.textContent.trim();
    if (!/\\s/.test(text) && code.getClientRects().length > 1) broken.push(text);
  }
  const images = [];
  for (const image of document.images) {
    if (!image.complete || image.naturalWidth === 0) images.push(image.currentSrc || image.src);
  }
  return {overflowing, broken, images};
}
"""


@dataclasses.dataclass(frozen=True)
class Problem:
    """Something a reader of `page` would see go wrong."""

    page: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.page}: {self.kind}: {self.detail}"


def site_pages(site: Path) -> list[str]:
    """The site's pages as paths relative to its root (`""` for the home page,
    `"guide/vae-trainer/"`), in a stable order; the 404 page is not one of them."""
    pages = []
    for html in sorted(site.rglob("*.html")):
        relative = html.relative_to(site)
        if relative.parts[0] == "assets" or relative.name == "404.html":
            continue
        if relative.name == "index.html":
            pages.append("".join(f"{part}/" for part in relative.parts[:-1]))
        else:
            pages.append(relative.as_posix())
    return sorted(pages, key=lambda page: (page != "", page))


def screenshot_name(page: str) -> str:
    """The file name of a page's screenshot: `index.png`, `guide--vae-trainer.png`."""
    stem = page.strip("/").removesuffix(".html").replace("/", "--")
    return (stem or "index") + ".png"


def overflow_problems(page: str, measured: dict[str, Any]) -> list[Problem]:
    """The problems in what `MEASURE_JS` returned for `page`."""
    problems = []
    for box in measured["overflowing"]:
        wide, room = box["scrollWidth"], box["clientWidth"]
        detail = f"{box['box']} is {wide - room} px too wide ({wide} > {room})"
        if box["text"]:
            detail += f": {box['text']!r}"
        problems.append(Problem(page, "overflows sideways", detail))
    problems.extend(
        Problem(page, "identifier broken across lines", repr(text))
        for text in measured["broken"]
    )
    problems.extend(
        Problem(page, "image not loaded", src) for src in measured["images"]
    )
    return problems


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(site: Path) -> Iterator[str]:
    """Serve `site` on 127.0.0.1 (a free port) while the block runs: its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def check_page(
    browser: Browser, base: str, page_path: str, screenshots: Path
) -> list[Problem]:
    """Open one page, wait until it has loaded, and report its problems."""
    problems: list[Problem] = []
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page: Page = context.new_page()

    def route(route: Route) -> None:
        if route.request.url.startswith(base) or route.request.url.startswith(
            "data:"
        ):
            route.continue_()
        else:
            problems.append(
                Problem(
                    page_path, "request outside the site", route.request.url
                )
            )
            route.abort()

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(Problem(page_path, "console error", message.text))

    def page_error(error: Exception) -> None:
        problems.append(Problem(page_path, "script error", str(error)))

    def request_failed(request: Request) -> None:
        if request.url.startswith(base):
            failure = request.failure or "failed"
            problems.append(
                Problem(
                    page_path, "request failed", f"{request.url} ({failure})"
                )
            )

    page.route("**/*", route)
    page.on("console", console)
    page.on("pageerror", page_error)
    page.on("requestfailed", request_failed)
    page.on(
        "response",
        lambda response: (
            problems.append(
                Problem(
                    page_path, "HTTP error", f"{response.status} {response.url}"
                )
            )
            if response.status >= 400
            else None
        ),
    )
    try:
        page.goto(base + page_path, wait_until="load")
        page.wait_for_load_state("networkidle")
        measured = page.evaluate(MEASURE_JS, TOLERANCE_PX)
        problems.extend(overflow_problems(page_path, measured))
        page.screenshot(
            path=str(screenshots / screenshot_name(page_path)), full_page=True
        )
    finally:
        context.close()
    return problems


def find_chromium(given: str | None) -> str:
    if given is not None:
        return given
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise SystemExit(
        "no Chromium found: install Debian's `chromium` package (apt-get install chromium) "
        "or pass --chromium PATH"
    )


def check_site(site: Path, screenshots: Path, chromium: str) -> list[Problem]:
    """Check every page of `site`; save the screenshots into `screenshots`."""
    pages = site_pages(site)
    if not pages:
        raise SystemExit(
            f"no pages under {site}: build the site first (mkdocs build)"
        )
    screenshots.mkdir(parents=True, exist_ok=True)
    for old in screenshots.glob("*.png"):
        old.unlink()
    problems: list[Problem] = []
    from playwright.sync_api import sync_playwright

    with serve(site) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            for page in pages:
                started = time.perf_counter()
                found = check_page(browser, base, page, screenshots)
                seconds = time.perf_counter() - started
                status = "ok" if not found else f"{len(found)} problem(s)"
                print(
                    f"{page or '(home)'}: {status} ({seconds:.1f} s)",
                    flush=True,
                )
                for problem in found:
                    print(f"    {problem.kind}: {problem.detail}", flush=True)
                problems.extend(found)
        finally:
            browser.close()
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", nargs="?", type=Path, default=Path("site"))
    parser.add_argument("--screenshots", type=Path, default=Path("site-check"))
    parser.add_argument(
        "--chromium", help="the browser to run (default: chromium on PATH)"
    )
    args = parser.parse_args(argv)
    problems = check_site(
        args.site, args.screenshots, find_chromium(args.chromium)
    )
    pages = len(site_pages(args.site))
    if problems:
        print(
            f"\n{len(problems)} problem(s) on {pages} pages; screenshots in {args.screenshots}/"
        )
        return 1
    print(f"\nall {pages} pages passed; screenshots in {args.screenshots}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

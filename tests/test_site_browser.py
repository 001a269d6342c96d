"""The published site as a reader sees it: headless Chromium, the quick site on 127.0.0.1."""

import hashlib
import json
import re
import time
import urllib.parse
import warnings

import pytest
from conftest import CHAPTERS, SCREENSHOTS

pytestmark = [pytest.mark.book, pytest.mark.xdist_group("book")]
WIDGET = ".synthgrad-precomputed"
# How long any wait may take before it fails: a bound for a broken page, not a speed test (the
# book tests share the cores with another worker's chapter run and with Chromium's processes)
TIMEOUT_MS = 120_000


def open_page(browser, url, allowed_prefixes, wait_until="load"):
    """A page that aborts and records any request outside ``allowed_prefixes`` and records
    page errors and console errors (opened up to ``wait_until``, Playwright's load state)."""
    page = browser.new_page(viewport={"width": 1280, "height": 1200})
    page.set_default_timeout(TIMEOUT_MS)
    log = {"external": [], "errors": []}

    def route(r):
        if r.request.url.startswith((*allowed_prefixes, "blob:", "data:")):
            r.continue_()
        else:
            log["external"].append(r.request.url)
            r.abort()

    page.route("**/*", route)
    inflight = log["inflight"] = set()  # the page's requests not yet finished or failed
    page.on("request", lambda r: inflight.add(r))
    page.on("requestfinished", lambda r: inflight.discard(r))
    page.on("requestfailed", lambda r: inflight.discard(r))
    page.on("pageerror", lambda e: log["errors"].append(f"pageerror: {e}"))
    page.on("console", lambda m: m.type == "error" and log["errors"].append(f"console: {m.text}"))
    # a console error for a failed load does not say which resource: the response does
    log["failed"] = []
    page.on("response", lambda r: r.status >= 400 and log["failed"].append(r.url))
    page.goto(url, wait_until=wait_until)
    return page, log


def wait_until_quiet(page, log, quiet_s=0.5):
    """Wait for the page's load event, then until none of its requests has been in flight for
    ``quiet_s`` seconds: Playwright's "networkidle", counted from the page's own request events.
    (Playwright's own wait sometimes never ended for one of several pages loading at once,
    with no request of that page in flight, while another worker's Chromium was busy.)"""
    page.wait_for_load_state("load")
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    quiet_since = None
    while True:
        now = time.monotonic()
        if log["inflight"]:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= quiet_s:
            return
        assert now < deadline, f"{page.url}: requests still in flight after {TIMEOUT_MS} ms"
        page.wait_for_timeout(50)  # lets Playwright deliver the page's events


def loaded(page, log, path):
    """Wait until the page at ``path`` (on disk) has loaded and typeset its mathematics."""
    wait_until_quiet(page, log)
    if 'class="math' in path.read_text():
        page.wait_for_selector("mjx-container")  # MathJax, self-hosted


def served_file(site_url, quick_book, url):
    """The file of the quick site that the test's server sends for ``url``."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(url.removeprefix(site_url)).path)
    found = quick_book / "html" / path.lstrip("/")
    return found / "index.html" if found.is_dir() else found


def shown(page):
    """What the precomputed widget shows now: its figure's src and pixels, and its text."""
    img = page.locator(f"{WIDGET} img.widget-image").first
    img.wait_for(state="visible")
    text = page.locator(f"{WIDGET} .widget-html-content").first.inner_text()
    return img.get_attribute("src"), hashlib.sha1(img.screenshot()).hexdigest(), text


def move(page, i):
    """Move the i-th control of the widget one step right, as a keyboard user would."""
    readout = page.locator(f"{WIDGET} .widget-readout").nth(i)
    before = readout.inner_text()
    page.locator(f"{WIDGET} .noUi-handle").nth(i).focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "([el, before]) => el.textContent.trim() !== before", arg=[readout.element_handle(), before]
    )


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_control_switches_the_figure_without_a_kernel(browser, site_url, chapter):
    page, log = open_page(browser, f"{site_url}/book/{chapter}.html", [site_url])
    widget = page.locator(WIDGET).first
    n_controls = page.locator(f"{WIDGET} .noUi-handle").count()
    assert n_controls >= 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    first = shown(page)
    widget.screenshot(path=str(SCREENSHOTS / f"{chapter}-widget-before.png"))
    seen = [first]
    for i in range(n_controls):
        move(page, i)
        page.wait_for_function(
            "([sel, src]) => document.querySelector(sel).getAttribute('src') !== src",
            arg=[f"{WIDGET} img.widget-image", seen[-1][0]],
        )
        now = shown(page)
        assert now[0] != seen[-1][0] and now[1] != seen[-1][1], (
            f"control {i} did not change the figure"
        )
        assert now[2] != seen[-1][2], f"control {i} did not change the numbers"
        seen.append(now)
    widget.screenshot(path=str(SCREENSHOTS / f"{chapter}-widget-after.png"))
    assert log["external"] == [], "requests left 127.0.0.1"
    assert log["errors"] == []
    page.close()


def test_pages_load_nothing_from_other_hosts(browser, site_url, quick_book):
    pages = ["book/intro.html", *[f"book/{c}.html" for c in CHAPTERS], "book/build.html"]
    # every page opened at once (their loads overlap), then each awaited until the network is idle
    opened = {
        name: open_page(browser, f"{site_url}/{name}", [site_url], "commit") for name in pages
    }
    for name, (page, log) in opened.items():
        loaded(page, log, quick_book / "html" / name)
        page.close()
        assert log["external"] == [], (name, log["external"])
        absent = [u for u in log["failed"] if not served_file(site_url, quick_book, u).is_file()]
        assert absent == [], (name, "the site lacks these files", absent, log["errors"])
        failed_loads = [e for e in log["errors"] if e.startswith("console: Failed to load")]
        assert failed_loads == log["errors"], (name, log["errors"])
        assert log["errors"] == [] or log["failed"], (name, "loads failed", log["errors"])
        if log["failed"]:
            # Every file the page asked for is in the site, yet a load failed: the test's
            # server, not the site (once, in CI at 31d0760, a page logged three 404s that no
            # run here reproduced; the log did not say which files). Say so, and load the page
            # again on its own, which must then be clean.
            warnings.warn(f"{name}: loads failed with every file present: {log}", stacklevel=1)
            page, log = open_page(browser, f"{site_url}/{name}", [site_url], "commit")
            loaded(page, log, quick_book / "html" / name)
            page.close()
            assert log["external"] == [] and log["failed"] == [], (name, log)
            assert log["errors"] == [], (name, log["errors"])
    html = "".join((quick_book / "html" / p).read_text() for p in pages)
    assert not re.findall(r'(?:src|href)="https?://(?!127\.0\.0\.1)[^"]*\.(?:js|css)', html)


FONT_FACES = """() => [...document.styleSheets].flatMap((sheet) => {
    let rules;
    try { rules = [...sheet.cssRules]; } catch (e) { return []; }
    return rules.filter((r) => r instanceof CSSFontFaceRule).flatMap((r) =>
        [...r.style.getPropertyValue("src").matchAll(/url\\("?([^")]+)"?\\)/g)].map(
            (m) => new URL(m[1], sheet.href || document.baseURI).href));
})"""


def test_every_font_the_widget_manager_declares_is_in_its_assets_folder(
    browser, site_url, quick_book
):
    """Each AMD module of the widget manager resolves its CSS fonts from its own requirejs path,
    which _ext/widgets-config.js maps to _static/ipywidgets/ for all of them (unmapped,
    @jupyter-widgets/base's fonts resolved beside the page, and 404ed there when used). Every
    @font-face a chapter page declares, used by the page or not, must be a file the site serves,
    the widget manager's in its assets folder."""
    name = f"book/{CHAPTERS[5]}.html"
    page, log = open_page(browser, f"{site_url}/{name}", [site_url])
    loaded(page, log, quick_book / "html" / name)
    page.wait_for_selector(".widget-image")
    urls = page.evaluate(FONT_FACES)
    page.close()
    widgets = [u for u in urls if re.search(r"/[0-9a-f]{20}\.(?:woff2?|ttf|eot|svg)$", u)]
    assert widgets, "the page declares none of the widget manager's fonts"
    assert [u for u in widgets if "/_static/ipywidgets/" not in u] == []
    assert [u for u in urls if not u.startswith(site_url)] == []
    assert [u for u in urls if not served_file(site_url, quick_book, u).is_file()] == []


def test_mathjax_accessibility_loads_its_speech_rules_from_the_site(browser, site_url):
    """A reader who turns on MathJax's explorer and speech (its menu, Accessibility) gets them:
    the speech-rule engine's locale files come from the site itself, with no failed load."""
    page, log = open_page(browser, f"{site_url}/book/{CHAPTERS[2]}.html", [site_url])
    page.wait_for_selector("mjx-container")
    answered = {}  # url -> status
    page.on("response", lambda r: answered.__setitem__(r.url, r.status))
    turned_on = page.evaluate(
        """() => ['explorer', 'speech', 'braille'].filter((name) => {
               const v = MathJax.startup.document.menu.menu.pool.lookup(name);
               if (v) v.setValue(true);
               return Boolean(v);
           })"""
    )
    assert turned_on == ["explorer", "speech", "braille"]
    rules = ("sre/mathmaps/base.json", "sre/mathmaps/en.json")
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not all(any(url.endswith(name) for url in answered) for name in rules):
        assert time.monotonic() < deadline, ("never asked for", rules, log)
        page.wait_for_timeout(50)
    wait_until_quiet(page, log)
    page.close()
    assert {u: s for u, s in answered.items() if u.endswith(rules)} == {
        f"{site_url}/_static/mathjax/{name}": 200 for name in rules
    }
    assert log["external"] == [] and log["failed"] == [] and log["errors"] == [], log


def test_site_works_from_disk(browser, quick_book):
    url = (quick_book / "html" / "book" / f"{CHAPTERS[0]}.html").as_uri()
    page, log = open_page(browser, url, ["file://"])
    before = shown(page)
    move(page, 0)
    page.wait_for_function(
        "([sel, src]) => document.querySelector(sel).getAttribute('src') !== src",
        arg=[f"{WIDGET} img.widget-image", before[0]],
    )
    assert shown(page)[1] != before[1]
    assert log["external"] == []
    page.close()


def test_the_build_page_links_to_ledgers_the_site_serves(browser, site_url):
    page, log = open_page(browser, f"{site_url}/book/build.html", [site_url])
    assert page.locator("h1").first.inner_text().startswith("How this site was built")
    link = page.locator(f'a[href="../results/{CHAPTERS[0]}.json"]').first
    assert link.is_visible()
    with page.expect_navigation():
        link.click()
    assert page.url == f"{site_url}/results/{CHAPTERS[0]}.json"
    doc = json.loads(page.locator("pre").first.inner_text())  # the browser's JSON view
    assert doc["chapter"] == CHAPTERS[0] and doc["schema"] == 1
    assert log["external"] == [] and log["errors"] == []
    page.close()

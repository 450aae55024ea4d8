"""End to end in a real browser: pimc/notebooks/explorer.ipynb served by Voilà (the app) and by JupyterLab (Run All,
as a user would), Debian's Chromium driven by Playwright, offline. The test clicks a field pixel on the image and
checks that the info line, the series, the recurrence plots, the patch and the similarity map all follow; it saves
screenshots to tests/_shots/ and the click-to-update times to tests/_shots/browser-timings.json.

Skipped, with the reason, where /usr/bin/chromium is missing (`make browser-deps` installs it); never `playwright install`.
"""
import importlib.util
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent
NOTEBOOK = ROOT / "pimc" / "notebooks" / "explorer.ipynb"
SHOTS = HERE / "_shots"

_spec = importlib.util.spec_from_file_location("pimc_browser_harness", HERE / "browser" / "harness.py")
H = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(H)

pytestmark = [pytest.mark.browser, pytest.mark.skipif(H.missing() is not None, reason=f"browser test cannot run: {H.missing()}")]


def field_pixel(size):
    "A pixel of the notebook's synthetic cube inside a labelled field, away from the centre's class and the borders."
    from pimc.explorer import open_cube
    cube = open_cube("synthetic", size=size)
    H_, W_ = cube.shape[2:]
    lab, centre = cube.labels, cube.labels[H_ // 2, W_ // 2]
    seen = cube.valid.sum(0)
    for r in range(H_ // 4, 3 * H_ // 4):
        for c in range(W_ // 6, W_ // 2):
            win = lab[r - 2:r + 3, c - 2:c + 3]
            if lab[r, c] not in (0, centre) and (win == lab[r, c]).all() and seen[r, c] > 0.7 * len(cube):
                return int(r), int(c), cube
    raise AssertionError("no field pixel found in the synthetic cube")


def _record(app, **timings):
    SHOTS.mkdir(exist_ok=True)
    f = SHOTS / "browser-timings.json"
    d = json.loads(f.read_text()) if f.exists() else {}
    d[app] = {k: round(v, 3) if isinstance(v, float) else v for k, v in timings.items()}
    f.write_text(json.dumps(d, indent=1))


@pytest.mark.parametrize("app,size", [("voila", 128), ("lab", 64)])   # Voilà: the 128 x 128 responsiveness case
def test_tap_updates_every_panel(app, size, tmp_path):
    from playwright.sync_api import expect
    row, col, cube = field_pixel(size)
    notebook = H.with_parameters(NOTEBOOK, tmp_path / NOTEBOOK.name, size=size)
    H_, W_ = cube.shape[2:]
    x, y = col + 0.5, H_ - row - 0.5                           # data coordinates of the pixel centre (bounds 0..W, 0..H)
    here = f"row {row}, col {col}"
    SHOTS.mkdir(exist_ok=True)
    errors, t0 = [], time.time()
    with H.served(notebook, app, log=SHOTS / f"{app}-server.log") as url, H.browser(viewport=(1320, 1650), errors=errors) as page, \
            H.on_failure(page, SHOTS / f"{app}-FAIL.png"):
        page.goto(url, wait_until="domcontentloaded", timeout=240_000)   # Voilà runs the notebook while answering
        if app == "lab": H.run_all_in_lab(page, timeout_ms=240_000)
        info = page.locator(".pimc-info")
        expect(info).to_contain_text(f"pixel row {H_ // 2}, col {W_ // 2}", timeout=240_000)
        page.wait_for_function("(n) => window.Bokeh && Bokeh.index && [...Bokeh.index.query(v => v.model && v.model.title && v.frame)].length >= n",
                               arg=5, timeout=120_000)
        pos = H.figure_pos(page, "tap a pixel", x, y, timeout=60)
        rendered = time.time() - t0
        panels = ("tap a pixel", "series ·", "RP ", "patch ", "embedding similarity")
        before = {k: H.figure_shot(page, k, frame=True) for k in panels}   # plot areas only: titles change too
        page.screenshot(path=str(SHOTS / f"{app}-before.png"), full_page=True)
        t1 = time.time()
        page.mouse.click(pos["x"], pos["y"])
        expect(info).to_contain_text(f"pixel row {row}, col {col} · class {cube.labels[row, col]} {cube.class_names[cube.labels[row, col]]}",
                                     timeout=60_000)
        t_info = time.time() - t1
        page.wait_for_function("""(here) => {
            const t = [...Bokeh.index.query(v => v.model && v.model.title && v.frame)].map(v => v.model.title.text)
                      .filter(s => /^(series|RP|patch|embedding similarity) /.test(s));
            return t.length === 4 && t.every(s => s.includes(here)); }""", arg=here, timeout=60_000)
        t_all = time.time() - t1
        expect(page.locator(".pimc-timing")).to_contain_text("s in the kernel", timeout=30_000)
        kernel = float(page.locator(".pimc-timing").inner_text().split("last tap: ")[1].split(" s")[0])
        page.wait_for_timeout(800)                               # let the canvases repaint before the screenshots
        after = {k: H.figure_shot(page, k, frame=True) for k in panels}
        page.screenshot(path=str(SHOTS / f"{app}-after.png"), full_page=True)
        page.locator(".pimc-explorer").screenshot(path=str(SHOTS / f"{app}-explorer.png"))   # the explorer alone (docs/explorer.png)
        changed = {k: before[k] != after[k] for k in panels}
        colours = {k: H.n_colours(after[k]) for k in panels}
        # a control: the RP threshold, binarised in the kernel without recomputing the distances
        page.get_by_label("threshold", exact=True).select_option(label="point: % of points")
        page.wait_for_function("""(here) => [...Bokeh.index.query(v => v.model && v.model.title && v.frame)].map(v => v.model.title.text)
                                  .some(s => s.startsWith("RP threshold 'point' at 10 %") && s.includes(here))""", arg=here, timeout=60_000)
        page.wait_for_timeout(800)
        binary = H.n_colours(H.figure_shot(page, "RP ", frame=True))
        got = H.titles(page)
    _record(app, size=size, rendered_s=rendered, click_to_info_s=t_info, click_to_all_panels_s=t_all, kernel_s=kernel, total_s=time.time() - t0, pixel=[row, col])
    print(f"\n{app} {size}x{size}: rendered after {rendered:.1f} s; click -> info line {t_info:.2f} s, -> every panel {t_all:.2f} s "
          f"(of which {kernel:.2f} s in the kernel)")
    assert all(changed.values()), f"panels whose plot area did not change after the tap: {[k for k, v in changed.items() if not v]}"
    assert all(n > 16 for n in colours.values()), f"blank-looking plot areas (distinct colours): {colours}"
    assert binary <= 8 < colours["RP "], f"thresholded RPs should be black and white (got {binary} colours, {colours['RP ']} before)"
    assert sum(here in t for t in got) == 4, got                 # series, RP, patch, similarity name the tapped pixel
    bad = [e for e in errors if "Failed to load resource" not in e and "@jupyterlab/docmanager" not in e and "RUNTIME-012" not in e]
    assert not bad, f"browser console errors: {bad}"


# ---- the documentation site (`make docs` builds it into _docs/) ----

DOCS = ROOT / "_docs"


@pytest.fixture(scope="module")
def docs_site():
    "The built site served on a free local port (built first when _docs/ is missing); yields its base URL."
    import functools, http.server, subprocess, sys, threading
    index = DOCS / "index.html"
    if not index.exists() or any(f.stat().st_mtime > index.stat().st_mtime for f in (ROOT / "tools" / "docs.py", ROOT / "README.md")):
        subprocess.run([sys.executable, str(ROOT / "tools" / "docs.py")], check=True, cwd=ROOT)   # missing or older than its tool
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass                           # no line per request in a failing test's output
    handler = functools.partial(Quiet, directory=str(DOCS))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", H.free_port()), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try: yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally: srv.shutdown()


def test_docs_home_and_module_page(docs_site):
    "The home page (the README) and a module page (a notebook with its outputs and nbdev's signatures) render."
    from playwright.sync_api import expect
    SHOTS.mkdir(exist_ok=True)
    with H.browser(viewport=(1280, 1000)) as page, H.on_failure(page, SHOTS / "docs-FAIL.png"):
        page.goto(f"{docs_site}/index.html", wait_until="load")
        expect(page).to_have_title(re.compile(r"pimc"))
        expect(page.locator("article h1").first).to_be_visible()
        expect(page.locator("nav").get_by_text("Modules").first).to_be_attached()
        page.screenshot(path=str(SHOTS / "docs-home.png"))
        page.goto(f"{docs_site}/recurrence.html", wait_until="load")
        expect(page).to_have_title(re.compile(r"Recurrence"))
        doc = page.locator("h3#recurrence_plot")                            # nbdev's show_doc block, below the code
        expect(doc).to_be_visible()
        sig = doc.locator("xpath=following-sibling::div[1]//pre")
        expect(sig).to_contain_text("def recurrence_plot(")                 # the signature ...
        expect(sig).to_contain_text("# (N, T) or (N, C, T) series")         # ... with its parameters' comments
        expect(page.locator(".jp-OutputArea img").first).to_be_attached()   # a stored output: a figure
        doc.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "docs-module.png"))


# every table on a page fits its article, or sits in (or is) a box that scrolls sideways: none is cut off
JS_TABLES = """() => [...document.querySelectorAll('article table')].map(t => {
  const art = t.closest('article'), width = art.clientWidth;
  let e = t, scroller = null;
  while (e && e !== art) {
    const o = getComputedStyle(e).overflowX;
    if ((o === 'auto' || o === 'scroll') && e.scrollWidth > e.clientWidth + 1) { scroller = e; break; }
    e = e.parentElement;
  }
  let moved = 0;
  if (scroller) { scroller.scrollLeft = 60; moved = scroller.scrollLeft; scroller.scrollLeft = 0; }
  return {wide: t.scrollWidth > width + 1, scrolls: moved > 0, text: t.innerText.slice(0, 40)};
})"""
# text nodes of rendered markdown (outside code) that still hold $...$: a formula nobody typeset
JS_RAW_TEX = """() => {
  const out = [], w = document.createTreeWalker(document.querySelector('article'), NodeFilter.SHOW_TEXT);
  for (let n = w.nextNode(); n; n = w.nextNode()) {
    if (n.parentElement.closest('pre, code, script, style, annotation') || !n.parentElement.closest('.jp-RenderedMarkdown')) continue;
    if (/\\$[^$\\s][^$]*\\$/.test(n.textContent)) out.push(n.textContent.slice(0, 80));
  }
  return out;
}"""


def test_docs_formulas_tables_and_helpers(docs_site):
    "Formulas are typeset (KaTeX from the site itself, MathML), wide tables scroll, private helpers start collapsed;"
    " the pages ask nothing of any other host and log no console error."
    from playwright.sync_api import expect
    SHOTS.mkdir(exist_ok=True)
    errors, elsewhere = [], []
    with H.browser(viewport=(1280, 1000), errors=errors) as page, H.on_failure(page, SHOTS / "docs-math-FAIL.png"):
        page.on("request", lambda r: None if r.url.startswith((docs_site, "data:", "blob:")) else elsewhere.append(r.url))
        page.goto(f"{docs_site}/recurrence.html", wait_until="load")
        formula = page.locator(".jp-RenderedMarkdown .katex").filter(has=page.locator("math msub")).first
        expect(formula).to_be_visible(timeout=15_000)                     # e.g. R_ij = |x_i - x_j|, as MathML
        box = formula.bounding_box()
        assert box["width"] > 20 and box["height"] > 8, box
        n_math = page.locator(".jp-RenderedMarkdown .katex math").count()
        assert n_math >= 10, f"only {n_math} formulas typeset on recurrence.html"
        assert page.locator(".katex-error").count() == 0, page.locator(".katex-error").first.inner_text()
        raw = page.evaluate(JS_RAW_TEX)
        assert not raw, f"formulas left as raw TeX: {raw[:5]}"
        formula.scroll_into_view_if_needed()
        formula.screenshot(path=str(SHOTS / "docs-formula.png"))
        helpers = page.locator("details.pimc-private")
        assert helpers.count() >= 3
        assert page.locator("details.pimc-private[open]").count() == 0
        expect(helpers.first.locator("pre")).to_be_hidden()               # the source is there, folded
        expect(page.locator("h3#recurrence_plot")).to_be_visible()        # the exported API is not
        helpers.first.locator("summary").click()
        expect(helpers.first.locator("pre")).to_be_visible()
        for name in ("results.html", "index.html"):
            page.goto(f"{docs_site}/{name}", wait_until="load")
            tables = page.evaluate(JS_TABLES)
            cut = [t for t in tables if t["wide"] and not t["scrolls"]]
            assert tables and not cut, f"{name}: tables wider than the page that do not scroll: {cut}"
            if name == "results.html":
                assert any(t["wide"] and t["scrolls"] for t in tables), "no wide table on results.html to check"
                page.screenshot(path=str(SHOTS / "docs-results.png"))
    # mkdocs-material's repository widget (repo_url) asks the repository host for its stars: meant, and harmless offline
    repo = re.compile(r"^https://api\.github\.com/repos/pimc-dev/pimc(/releases/latest)?$")
    elsewhere = [u for u in elsewhere if not repo.match(u)]
    assert not elsewhere, f"the docs asked other hosts for: {elsewhere[:5]}"
    errors = [e for e in errors if not ("Failed to load resource" in e and "ERR_FAILED" in e)]   # those aborted requests
    assert not errors, f"browser console errors: {errors}"

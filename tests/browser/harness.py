"""Drive a notebook in a real browser: Voilà or JupyterLab on 127.0.0.1, Debian's Chromium through Playwright, offline.

The recipe of /work/shared/BROWSER-TEST-NOTES.md, as reusable pieces:

    with served(nb_path, 'voila') as url, browser() as page:
        page.goto(url) ...

- the server gets throw-away config / runtime / settings folders and a copy of the notebook (nothing of the user's is read);
- Chromium is `/usr/bin/chromium` (never `playwright install`); every request that leaves 127.0.0.1 is aborted, and the
  cdn.bokeh.org / cdn.holoviz.org ones are answered from the installed bokeh and panel wheels;
- bokeh figures are found through `Bokeh.index` by title, and clicked at data coordinates mapped to page pixels.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

CHROMIUM = Path(os.environ.get("PIMC_CHROMIUM", "/usr/bin/chromium"))
CHROME_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
BIN = Path(sys.executable).parent

# data (x, y) on the bokeh figure whose title contains `text` -> page pixels (scrolls it into view first)
JS_DATA_TO_PAGE = """([text, x, y]) => {
  if (!window.Bokeh || !Bokeh.index) return null;
  const pv = [...Bokeh.index.query(v => v.model && v.model.title && v.model.title.text && v.model.title.text.includes(text) && v.frame)][0];
  if (!pv) return null;
  pv.el.scrollIntoView({block: 'center', inline: 'center'});
  const r = pv.canvas_view.el.getBoundingClientRect();
  return {x: r.left + pv.frame.x_scale.compute(x), y: r.top + pv.frame.y_scale.compute(y)};
}"""
# page rectangle of that figure (for clipped screenshots)
JS_FIG_RECT = """(text) => {
  if (!window.Bokeh || !Bokeh.index) return null;
  const pv = [...Bokeh.index.query(v => v.model && v.model.title && v.model.title.text && v.model.title.text.includes(text) && v.frame)][0];
  if (!pv) return null;
  const r = pv.el.getBoundingClientRect();
  return {x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height};
}"""
# page rectangle of that figure's plot area (the frame: no title, axes or toolbar)
JS_FRAME_RECT = """(text) => {
  if (!window.Bokeh || !Bokeh.index) return null;
  const pv = [...Bokeh.index.query(v => v.model && v.model.title && v.model.title.text && v.model.title.text.includes(text) && v.frame)][0];
  if (!pv) return null;
  const r = pv.canvas_view.el.getBoundingClientRect(), b = pv.frame.bbox;
  return {x: r.left + b.left + window.scrollX, y: r.top + b.top + window.scrollY, width: b.width, height: b.height};
}"""
# the titles of every bokeh figure on the page
JS_TITLES = """() => (window.Bokeh && Bokeh.index) ? [...Bokeh.index.query(v => v.model && v.model.title && v.frame)].map(v => v.model.title.text) : []"""
JS_KERNEL_IDLE = """() => {
  const app = window.jupyterapp; if (!app) return false;
  const w = app.shell.currentWidget; if (!w || !w.sessionContext) return false;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  return w.sessionContext.isReady && !!k && k.status === 'idle' && k.connectionStatus === 'connected';
}"""
JS_STARTED = """() => [...document.querySelectorAll('.jp-InputArea-prompt')].some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))"""
JS_ALL_DONE = """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].every(e => /\\[\\d+\\]/.test(e.textContent))"""  # markdown cells have empty prompts


def missing() -> str | None:
    "Why the browser test cannot run here (None when it can)."
    if not CHROMIUM.exists(): return f"{CHROMIUM} is missing (apt-get install chromium; `make browser-deps` does it)"
    for mod in ("playwright", "voila", "jupyterlab"):
        try: __import__(mod)
        except ImportError: return f"python package {mod!r} is not installed (pip install -e '.[dev]')"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_env(tmp: Path) -> dict:
    "Environment for a Jupyter server that reads nothing of the user's: fresh config, runtime, settings, IPython dirs."
    env = dict(os.environ)
    for k, sub in [("JUPYTER_CONFIG_DIR", "cfg"), ("JUPYTERLAB_SETTINGS_DIR", "lab-settings"), ("JUPYTERLAB_WORKSPACES_DIR", "lab-ws"),
                   ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")]:
        (tmp / sub).mkdir(parents=True, exist_ok=True)
        env[k] = str(tmp / sub)
    settings = tmp / "lab-settings" / "@jupyterlab"
    (settings / "apputils-extension").mkdir(parents=True, exist_ok=True)   # no news / update toast over the page
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    (settings / "notebook-extension").mkdir(parents=True, exist_ok=True)   # render off-screen cells too
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    env["PATH"] = f"{BIN}:{env['PATH']}"
    env.setdefault("MPLBACKEND", "Agg")
    return env


def wait_port(port: int, proc, timeout: float = 90):
    "Wait until 127.0.0.1:port accepts connections (never GET Voilà's '/': each GET runs the notebook)."
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None: raise RuntimeError(f"server exited with code {proc.returncode} before listening on port {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.25)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@contextlib.contextmanager
def served(notebook: Path, app: str = "voila", log: Path | None = None, timeout: float = 90):
    "Serve a copy of `notebook` with Voilà or JupyterLab on a free local port; yields the URL that opens it."
    tmp = Path(tempfile.mkdtemp(prefix=f"pimc-{app}-"))
    root = tmp / "nb"; root.mkdir()
    shutil.copy(notebook, root / notebook.name)
    env, port = isolated_env(tmp), free_port()
    if app == "voila":
        cmd = [str(BIN / "voila"), notebook.name, "--no-browser", "--Voila.ip=127.0.0.1", f"--port={port}", "--Voila.port_retries=0",
               "--show_tracebacks=True"]
        url = f"http://127.0.0.1:{port}/"
    elif app == "lab":
        cmd = [str(BIN / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0", "--allow-root",
               "--IdentityProvider.token=", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True"]
        url = f"http://127.0.0.1:{port}/lab/tree/{notebook.name}?reset"
    else: raise ValueError(f"app must be 'voila' or 'lab' (got {app!r})")
    out = open(log, "w") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root)
    try:
        wait_port(port, proc, timeout)
        if app == "lab":   # the REST API answers once the server is really up
            t0 = time.time()
            while time.time() - t0 < timeout:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2) as r:
                        if r.status == 200: break
                except Exception: time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try: proc.wait(15)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait(5)
        if log: out.close()
        shutil.rmtree(tmp, ignore_errors=True)


def route_offline(page):
    "Abort every request that leaves 127.0.0.1; answer cdn.bokeh.org / cdn.holoviz.org from the installed wheels."
    import bokeh, panel
    bokeh_js, panel_dist = Path(bokeh.__file__).parent / "server/static/js", Path(panel.__file__).parent / "dist"

    def cdn(route):
        url = urllib.parse.unquote(route.request.url.split("?")[0])
        f = (bokeh_js / url.rsplit("/", 1)[1].replace(f"-{bokeh.__version__}", "") if "cdn.bokeh.org" in url
             else panel_dist / url.split("/dist/", 1)[1] if "/dist/" in url else None)
        if f is not None and f.is_file():
            route.fulfill(status=200, body=f.read_bytes(), headers={"Content-Type": "text/css" if f.suffix == ".css" else "application/javascript",
                                                                     "Access-Control-Allow-Origin": "*"})
        else: route.abort()
    page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())   # later routes take precedence
    page.route("https://cdn.bokeh.org/**", cdn)
    page.route("https://cdn.holoviz.org/**", cdn)


@contextlib.contextmanager
def browser(viewport=(1500, 1100), errors: list | None = None):
    "A Playwright page in Debian's headless Chromium, offline; console errors are appended to `errors`."
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROME_ARGS)
        try:
            page = b.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            route_offline(page)
            if errors is not None: page.on("console", lambda m: m.type == "error" and errors.append(m.text[:300]))
            yield page
        finally:
            b.close()


def run_all_in_lab(page, timeout_ms: int = 120_000):
    "In JupyterLab: wait for an idle kernel, Run > Run All Cells (retried until execution starts), wait for every prompt."
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=timeout_ms)
    page.wait_for_function(JS_KERNEL_IDLE, timeout=timeout_ms)
    for attempt in range(5):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()
        try:
            page.wait_for_function(JS_STARTED, timeout=10_000)
            break
        except Exception:
            page.keyboard.press("Escape")
    else: raise RuntimeError("JupyterLab did not start 'Run All' after 5 tries")
    page.wait_for_function(JS_ALL_DONE, timeout=timeout_ms)


def titles(page) -> list[str]:
    "The titles of the bokeh figures on the page (they follow the kernel: the explorer's titles name the tapped pixel)."
    return page.evaluate(JS_TITLES)


def figure_pos(page, text: str, x: float, y: float, timeout: float = 30):
    "Page pixels of data point (x, y) on the bokeh figure whose title contains `text`, waiting for it to be laid out."
    t0 = time.time()
    while time.time() - t0 < timeout:
        pos = page.evaluate(JS_DATA_TO_PAGE, [text, x, y])
        if pos: return pos
        time.sleep(0.2)
    raise AssertionError(f"no bokeh figure with {text!r} in its title; figures on the page: {titles(page)}")


def figure_shot(page, text: str, frame: bool = False) -> bytes:
    "PNG of the bokeh figure whose title contains `text` (only its plot area with `frame`)."
    rect = page.evaluate(JS_FRAME_RECT if frame else JS_FIG_RECT, text)
    if not rect: raise AssertionError(f"no bokeh figure with {text!r} in its title; figures on the page: {titles(page)}")
    return page.screenshot(clip=rect, full_page=True)


@contextlib.contextmanager
def on_failure(page, png: Path):
    "Save a full-page screenshot (and the page's HTML beside it) when the block raises."
    try:
        yield
    except BaseException:
        try:
            page.screenshot(path=str(png), full_page=True)
            png.with_suffix(".html").write_text(page.content())
        except Exception: pass
        raise


def with_parameters(notebook: Path, out: Path, **params) -> Path:
    "A copy of `notebook` at `out` with `params` set in a cell right after its 'parameters' cell (as papermill injects them)."
    import nbformat
    nb = nbformat.read(notebook, as_version=4)
    i = next((k for k, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])), None)
    if i is None: raise ValueError(f"{notebook} has no cell tagged 'parameters'")
    cell = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in params.items()))
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(i + 1, cell)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    return out


def n_colours(png: bytes) -> int:
    "How many distinct colours a PNG has (a blank plot area has one or two)."
    import io
    from PIL import Image
    return len(Image.open(io.BytesIO(png)).convert("RGB").getcolors(1 << 24))

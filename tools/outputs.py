"""Execute source notebooks and commit them with their outputs: small PNGs, no machine-specific noise.

    python tools/outputs.py                          # every notebook of nbs/ (what `make outputs` runs)
    python tools/outputs.py nbs/00_bands.ipynb ...   # only these

Each notebook runs in a process of its own through nbdev's test runner with `save=True` (what `nbdev-test --save`
does), with two changes: figures are stored as plain PNG at 72 dpi (nbdev's shell stores "retina" PNGs at twice the
resolution), and cells flagged with `tst_flags` (slow, cuda, data, notest) are skipped as nbdev-test skips them.
A notebook that fails is left as it was. The saved outputs are then filtered so that a rerun on another machine
changes nothing but real results:
- absolute paths (the checkout, temporary folders, the home folder, the interpreter's prefix, $PIMC_SAMPLES) become
  short stable ones; memory addresses (`at 0x7f..`) and durations (`1.23 s`, `'total_s': 0.5`) are masked;
- stderr streams (warnings, progress bars) are dropped, and so are the JavaScript loaders of bokeh/HoloViews;
- PNGs are re-encoded with a 256-colour palette (`optimize`); very large outputs are replaced by a line.
Finally nbdev-clean removes execution counts and metadata (it keeps the outputs: `clear_all = false`).
"""
import base64, io, os, re, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DPI = 72
MAX_OUTPUT = 400_000  # bytes of one output item beyond which it is not stored
LOADERS = {"application/javascript", "application/vnd.holoviews_load.v0+json", "application/vnd.bokehjs_load.v0+json"}


def run_one(nb: Path) -> bool:
    "Execute `nb` in this process with nbdev's runner and save its outputs (plain PNG figures at `DPI`)."
    import functools, matplotlib
    matplotlib.rcParams["figure.dpi"] = DPI
    import execnb.shell, nbdev.test
    from nbdev.config import get_config
    nbdev.test.CaptureShell = functools.partial(execnb.shell.CaptureShell, mpl_format="png")
    cfg = get_config()
    ok, _ = nbdev.test.test_nb(Path(nb).resolve(), skip_flags=cfg.tst_flags.split(), force_flags=[], save=True,
                               basepath=cfg.config_path)
    return ok


def _patterns() -> list:
    home, tmp = str(Path.home()), tempfile.gettempdir()
    subs = [(str(ROOT), "."), (str(ROOT.resolve()), ".")]
    samples = os.environ.get("PIMC_SAMPLES") or str(ROOT.parent / "shared" / "data")   # pimc's own default
    subs += [(samples.rstrip("/"), "$PIMC_SAMPLES"), (str(Path(samples).resolve()), "$PIMC_SAMPLES")]
    subs += [(sys.prefix, "<python>"), (sys.base_prefix, "<python>"), (home, "~")]
    pats = [(re.compile(re.escape(a) + r"(?=[/\s'\"):,\]]|$)"), b) for a, b in subs if a and a != "/"]
    pats += [
        (re.compile(re.escape(tmp) + r"/[\w.-]+"), "/tmp/…"),                      # mkdtemp folders
        (re.compile(r"\bat 0x[0-9a-fA-F]{6,}"), "at 0x…"),                         # object reprs
        (re.compile(r"(?<![\w.])\d+(\.\d+)?(?= ?(s|ms|µs|us|min|sec|seconds)\b)"), "…"),  # durations
        (re.compile(r"(['\"]\w*_s['\"]: )\d+(\.\d+)?"), r"\1…"),                   # {'total_s': 0.52}
        # throughputs and machine load: they change with the machine and what else runs on it
        (re.compile(r"(?<![\w.])[\d,]+(\.\d+)?(?= ?(pairs|chips|steps|it|samples|pixels)/s\b)"), "…"),
        (re.compile(r"(?<![\w.])[\d,]+(\.\d+)?(?= per CPU-s(econd)?\b)"), "…"),
        (re.compile(r"(\bload average:? )[\d.]+( -> )[\d.]+"), r"\1…\2…"),
        (re.compile(r"(\bdata )\d+%(?=\))"), r"\1…%"),                              # Run(..., data 2%)
        (re.compile(r"(\binput share +)[\d.]+%"), r"\1…%"),
    ]
    return pats


def _clean_text(s: str, pats) -> str:
    for p, r in pats: s = p.sub(r, s)
    return s


def _small_png(b64: str) -> str:
    "The PNG re-encoded smaller: a 256-colour palette (plots and colour maps look the same), `optimize`; never larger."
    from PIL import Image
    raw = base64.b64decode(b64)
    try:
        im = Image.open(io.BytesIO(raw)); im.load()
        if im.mode == "RGBA" and im.getextrema()[3][0] == 255: im = im.convert("RGB")   # opaque: drop alpha
        if im.mode == "RGB": im = im.quantize(256, dither=Image.Dither.NONE)
        elif im.mode == "RGBA": im = im.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
        buf = io.BytesIO(); im.save(buf, "PNG", optimize=True); new = buf.getvalue()
    except Exception: return b64
    return base64.b64encode(new).decode() if len(new) < len(raw) else b64


def filter_notebook(path: Path) -> dict:
    "Remove machine-specific noise from the outputs of `path` (in place); returns counts of what was changed."
    import nbformat
    nb = nbformat.read(path, as_version=4)
    pats, n = _patterns(), {"dropped": 0, "png_bytes_saved": 0}
    for c in nb.cells:
        if c.cell_type != "code": continue
        outs = []
        for o in c.get("outputs", []):
            if o.output_type == "stream":
                if o.name == "stderr": n["dropped"] += 1; continue
                o.text = _clean_text(o.text, pats)
            elif o.output_type in ("display_data", "execute_result"):
                data = o.get("data", {})
                for k in list(data):
                    v = data[k]
                    if k in LOADERS: del data[k]; continue
                    if k == "image/png":
                        new = _small_png(v); n["png_bytes_saved"] += len(v) - len(new); data[k] = new
                    elif isinstance(v, str):
                        data[k] = _clean_text(v, pats)
                    size = len(data[k]) if isinstance(data[k], str) else len(str(data[k]))
                    if size > MAX_OUTPUT:
                        data.clear(); data["text/plain"] = f"({k} output of {size // 1000} kB not stored)"; break
                if not data: n["dropped"] += 1; continue
            elif o.output_type == "error":
                o.traceback = [_clean_text(t, pats) for t in o.traceback]
            outs.append(o)
        c.outputs = outs
    nbformat.write(nb, path)
    return n


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--one"]:
        sys.exit(0 if run_one(Path(argv[1])) else 1)
    nbs = [Path(a) for a in argv] or sorted((ROOT / "nbs").glob("*.ipynb"))
    path = [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path),
               MPLBACKEND="module://matplotlib_inline.backend_inline")
    def one(nb):
        t0 = time.time()
        r = subprocess.run([sys.executable, __file__, "--one", str(nb)], env=env, capture_output=True, text=True,
                           cwd=ROOT)
        return nb, r, time.time() - t0
    failed = []
    with ThreadPoolExecutor(int(os.environ.get("OUTPUTS_WORKERS", 2))) as ex:
        for nb, r, dt in ex.map(one, nbs):
            if r.returncode: failed.append(nb); print(f"FAILED {nb} ({dt:.0f} s):\n{r.stderr[-3000:]}"); continue
            n = filter_notebook(nb)
            print(f"{nb}: saved with outputs in {dt:.0f} s ({n['dropped']} noisy outputs dropped, "
                  f"{n['png_bytes_saved'] // 1000} kB of PNG saved)")
    clean = str(Path(sys.executable).with_name("nbdev-clean"))
    for nb in nbs:
        if nb not in failed: subprocess.run([clean, "--fname", str(nb)], cwd=ROOT, check=True)
    if failed: sys.exit(f"{len(failed)} notebook(s) failed and were left as they were: {', '.join(map(str, failed))}")


if __name__ == "__main__":
    main()

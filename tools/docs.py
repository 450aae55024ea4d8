"""Build the documentation site from the notebooks, with their stored outputs (nothing is executed), into _docs/.

    python tools/docs.py           # stage, build (mkdocs --strict), check every internal link
    python tools/docs.py --stage   # only write the staged sources and the mkdocs config into _proc/

Quarto (nbdev's own renderer) does not install from the package registries, so the site is mkdocs-material plus
mkdocs-jupyter. Staging does what nbdev's processors would: the README is the home page, every notebook of nbs/ is
a page named like its module (`00_bands.ipynb` -> `bands.html`, the address nbdev prints in each module's
docstring), `#| hide` cells are dropped, directive comments removed, and each exported function or class gets its
signature and parameter comments (docments) rendered by nbdev's own `show_doc`, right below the cell that defines
it. The packaged experiment notebooks (pimc/notebooks/) are pages too, under experiments/. README and notebooks
link to results/ and docs/: both are copied in, so those links work on the site as in the repository.
"""
import argparse, ast, importlib, os, re, shutil, subprocess, sys, time
from pathlib import Path

import warnings

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROC = ROOT / "_proc"
STAGE = PROC / "docs"
SITE = ROOT / "_docs"
DIRECTIVE = re.compile(r"^\s*#\s*\|\s*([\w-]+):?\s*(.*)$")


def page_name(nb: Path) -> str:
    "The page (and nbdev doc) name of a notebook: its file name without the number, `44_benchmarks` -> `benchmarks`."
    return re.sub(r"^\d+[a-z]?_", "", nb.stem)


def directives(src: str) -> dict:
    "nbdev directives (`#| export`, `#| hide`, `#| default_exp x`, `#| eval: false`) of a cell: name -> argument."
    out = {}
    for line in src.splitlines():
        m = DIRECTIVE.match(line)
        if m: out[m.group(1)] = m.group(2).strip()
        elif line.strip(): break
    return out


def strip_directives(src: str) -> str:
    lines = src.splitlines()
    while lines and DIRECTIVE.match(lines[0]): lines.pop(0)
    return "\n".join(lines)


def defined_names(src: str) -> list:
    "Functions and classes a cell defines at top level, in order."
    try: tree = ast.parse(src)
    except SyntaxError: return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def doc_markdown(obj) -> str:
    "Signature with docments and docstring of `obj`, as nbdev's `show_doc` renders them (without its source link)."
    from nbdev.showdoc import show_doc
    md = show_doc(obj, title_level=3)._repr_markdown_()
    md = "\n".join(l for l in md.splitlines() if not l.startswith("[source]"))
    return md.strip().removeprefix("---").strip()


def fix_links(md: str) -> str:
    "Links of a notebook in nbs/ relative to the site: `../docs/x.png` -> `docs/x.png`, `NN_x.ipynb` -> `x.html`"
    md = re.sub(r"\]\(\.\./", "](", md)
    page = lambda m: f"]({m.group(2)}.html{m.group(3) or ''})"
    return re.sub(r"\]\((\d+[a-z]?_)?([\w-]+)\.ipynb(#[^)]*)?\)", page, md)


def stage_notebook(src: Path, dst: Path, module: str | None = None) -> str:
    "Write the page version of notebook `src` to `dst`; returns the notebook's title (its first heading)."
    nb = nbformat.read(src, as_version=4)
    mod = importlib.import_module(f"pimc.{module}") if module else None
    public = set(getattr(mod, "__all__", ()))
    cells, title = [], None
    for c in nb.cells:
        if c.cell_type == "markdown":
            if title is None:
                m = re.search(r"^#\s+(.+)$", c.source, re.M)
                if m: title = m.group(1).strip().replace("`", "")
            c.source = fix_links(c.source); cells.append(c); continue
        if c.cell_type != "code": cells.append(c); continue
        d = directives(c.source)
        if "hide" in d or "default_exp" in d: continue
        c.source = strip_directives(c.source)
        cells.append(c)
        if mod is not None and ("export" in d or "exports" in d):
            for name in defined_names(c.source):
                if name in public:
                    cells.append(nbformat.v4.new_markdown_cell(doc_markdown(getattr(mod, name))))
    nb.cells = cells
    for i, c in enumerate(nb.cells): c.id = f"c{i}"
    nbformat.write(nb, dst)
    return title or page_name(src)


def stage() -> dict:
    "Stage the site's sources into _proc/docs and write _proc/mkdocs.yml; returns the config."
    sys.path.insert(0, str(ROOT))
    shutil.rmtree(STAGE, ignore_errors=True); STAGE.mkdir(parents=True)
    warnings.filterwarnings("ignore", message="docments unavailable")   # fastcore cannot read some defaults
    for d in ("docs", "results"):
        if (ROOT / d).is_dir(): shutil.copytree(ROOT / d, STAGE / d)
    shutil.copy(ROOT / "README.md", STAGE / "index.md")
    modules, other = [], []
    for nb in sorted((ROOT / "nbs").glob("*.ipynb")):
        if nb.stem == "index": continue                      # it is the README, the home page
        exp = next((directives(c.source).get("default_exp") for c in nbformat.read(nb, as_version=4).cells
                    if c.cell_type == "code" and "default_exp" in directives(c.source)), None)
        name = page_name(nb)
        title = stage_notebook(nb, STAGE / f"{name}.ipynb", exp)
        (modules if exp else other).append({title: f"{name}.ipynb"})
    (STAGE / "experiments").mkdir()
    experiments = []
    for nb in sorted((ROOT / "pimc" / "notebooks").glob("*.ipynb")):
        title = stage_notebook(nb, STAGE / "experiments" / nb.name)
        experiments.append({title: f"experiments/{nb.name}"})
    meta = _project()
    cfg = {
        "site_name": "pimc", "site_description": meta["description"], "repo_url": meta["urls"]["Repository"],
        "docs_dir": "docs", "site_dir": "../_docs", "use_directory_urls": False, "strict": True,
        "theme": {"name": "material", "font": False, "features": ["navigation.sections", "content.code.copy"]},
        "plugins": ["search", {"mkdocs-jupyter": {"execute": False, "include_source": True, "include": ["*.ipynb"],
                                                  "ignore_h1_titles": True, "toc_depth": 3}}],
        "markdown_extensions": ["tables", "attr_list", "admonition", "pymdownx.superfences"],
        # results/*.md are pages the README and the results page link to, not nav entries: omitted on purpose
        "validation": {"omitted_files": "info", "not_found": "warn", "absolute_links": "warn",
                       "unrecognized_links": "warn", "anchors": "warn"},
        "nav": [{"Home": "index.md"}, {"Modules": modules}, *([{"Results": other}] if other else []),
                {"Experiment notebooks": experiments}],
    }
    (PROC / "mkdocs.yml").write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    return cfg


def _project() -> dict:
    import tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def build():
    "mkdocs build --strict: a warning (a broken link in a markdown page, a missing page) fails the build."
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")   # (mkdocs-material's banner about its successor)
    # not -q: mkdocs counts the warnings it logs, and a quiet build logs none, so --strict would never fail
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "-f", "mkdocs.yml"],
                       cwd=PROC, env=env, capture_output=True, text=True)  # cwd: mkdocs-jupyter caches in _proc/.cache
    if r.returncode:
        said = [l for l in (r.stdout + r.stderr).splitlines() if not l.startswith("INFO")]
        raise SystemExit("mkdocs build --strict failed:\n" + "\n".join(said[-60:]))


def check_links():
    "Every internal link and image of the built site resolves (LinkChecker on the files; external links not followed)."
    lc = shutil.which("linkchecker", path=str(Path(sys.executable).parent)) or shutil.which("linkchecker")
    if lc is None: raise SystemExit("linkchecker is not installed (pip install -e '.[dev]')")
    r = subprocess.run([lc, "--no-status", "--no-warnings", "-o", "text", "--threads", "4",
                        "--ignore-url", r"^(?!file:)", str(SITE / "index.html")], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"broken links in {SITE}:\n{r.stdout[-6000:]}\n{r.stderr[-2000:]}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage", action="store_true", help="only stage the sources and write the config")
    a = ap.parse_args(argv)
    t0 = time.time()
    stage()
    if a.stage: return
    build(); t1 = time.time()
    check_links()
    print(f"docs: {SITE.relative_to(ROOT)}/index.html (built in {t1 - t0:.0f} s, "
          f"links checked in {time.time() - t1:.0f} s)")


if __name__ == "__main__":
    main()

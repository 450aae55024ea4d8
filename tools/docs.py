"""Build the documentation site from the notebooks, with their stored outputs (nothing is executed), into _docs/.

    python tools/docs.py           # stage, build (mkdocs --strict), check every internal link and anchor
    python tools/docs.py --stage   # only write the staged sources and the mkdocs config into _proc/

Quarto (nbdev's own renderer) does not install from the package registries, so the site is mkdocs-material plus
mkdocs-jupyter. Staging does what nbdev's processors would: the README is the home page, every notebook of nbs/ is
a page named like its module (`00_bands.ipynb` -> `bands.html`, the address nbdev prints in each module's
docstring), `#| hide` cells are dropped, directive comments removed, and each exported function or class gets its
signature and parameter comments (docments) rendered by nbdev's own `show_doc`, right below the cell that defines
it. The packaged experiment notebooks (pimc/notebooks/) are pages too, under experiments/. README and notebooks
link to results/, docs/, LICENSE and CITATION.cff: they are copied in, so those links work on the site as in the
repository. Formulas (`$..$` in markdown) are drawn by KaTeX, taken from the installed panel package and copied into
the site (no CDN); wide tables scroll sideways; exported cells that hold only private helpers are shown collapsed.
The link check afterwards is plain Python over the built files (every link, image, script, stylesheet and anchor),
so it works as any user, in a private folder too.
"""
import argparse, ast, html, importlib, os, re, shutil, subprocess, sys, time
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit
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


def private_cell(src: str, names: list) -> nbformat.NotebookNode:
    "A markdown cell that shows a cell of private helpers collapsed: a `<details>` naming them, the source inside."
    which = ", ".join(f"<code>{html.escape(n)}</code>" for n in names)
    return nbformat.v4.new_markdown_cell(f'<details class="pimc-private"><summary>private helper'
                                         f'{"s" if len(names) > 1 else ""} {which} (source)</summary>\n\n'
                                         f"```python\n{src}\n```\n\n</details>")


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
        names = defined_names(c.source)
        if ("export" in d or "exports" in d or "exporti" in d) and names and not c.get("outputs") \
                and all(n.startswith("_") and n not in public for n in names):
            cells.append(private_cell(c.source, names)); continue   # helpers: collapsed, the API and examples show
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
    for f in ("LICENSE", "CITATION.cff"): shutil.copy(ROOT / f, STAGE / f)      # the README links to both
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
    extra_js, extra_css = stage_assets(STAGE)
    meta = _project()
    cfg = {
        "site_name": "pimc", "site_description": meta["description"], "repo_url": meta["urls"]["Repository"],
        "docs_dir": "docs", "site_dir": "../_docs", "use_directory_urls": False, "strict": True,
        "theme": {"name": "material", "font": False, "features": ["navigation.sections", "content.code.copy"]},
        "plugins": ["search", {"mkdocs-jupyter": {"execute": False, "include_source": True, "include": ["*.ipynb"],
                                                  "ignore_h1_titles": True, "toc_depth": 3}}],
        "markdown_extensions": ["tables", "attr_list", "admonition", "pymdownx.superfences",
                                {"pymdownx.arithmatex": {"generic": True}}],   # $..$ in markdown pages -> KaTeX
        "extra_javascript": extra_js, "extra_css": extra_css,
        "hooks": [str(Path(__file__).resolve())],   # this file's on_page_content: TOC anchors, no dead MathJax tag
        # results/*.md are pages the README and the results page link to, not nav entries: omitted on purpose
        "validation": {"omitted_files": "info", "not_found": "warn", "absolute_links": "warn",
                       "unrecognized_links": "warn", "anchors": "warn"},
        "nav": [{"Home": "index.md"}, {"Modules": modules}, *([{"Results": other}] if other else []),
                {"Experiment notebooks": experiments}],
    }
    (PROC / "mkdocs.yml").write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    return cfg


MATH_JS = r"""// pimc docs: KaTeX renders the formulas of the notebooks' markdown ($..$, $$..$$) and of the markdown pages
// (pymdownx.arithmatex: \(..\), \[..\]) as MathML, which the browser draws itself: no web fonts, no CDN.
// KaTeX (katex.min.js, auto-render.min.js beside this file): Khan Academy and other contributors, MIT licence.
(function () {
  const opts = {
    delimiters: [{left: "$$", right: "$$", display: true}, {left: "\\[", right: "\\]", display: true},
                 {left: "$", right: "$", display: false}, {left: "\\(", right: "\\)", display: false}],
    output: "mathml", throwOnError: false,
    ignoredTags: ["script", "noscript", "style", "textarea", "pre", "code", "option"],
  };
  function render() {
    document.querySelectorAll(".jp-RenderedMarkdown, .jp-RenderedLatex, .arithmatex")
      .forEach((el) => renderMathInElement(el, opts));
  }
  if (window.document$) document$.subscribe(render);
  else if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", render);
  else render();
})();
"""

SITE_CSS = """/* pimc docs */
/* wide tables scroll sideways instead of running past the page: mkdocs-material wraps plain tables in a scrolling
   box; these rules also cover the ones it leaves alone (HTML tables with a class, e.g. DataFrames in outputs) */
.jupyter-wrapper .jp-RenderedHTMLCommon table { display: block; max-width: 100%; overflow-x: auto; }
.md-typeset__scrollwrap, .jupyter-wrapper .jp-RenderedHTMLCommon table { scrollbar-width: auto; }
/* formulas: KaTeX's MathML output */
.katex math { font-size: 1.1em; }
.katex-display { display: block; margin: 0.8em 0; text-align: center; overflow-x: auto; }
/* a cell of private helpers, collapsed (tools/docs.py private_cell) */
details.pimc-private { margin: 0.4em 0; }
details.pimc-private > summary { cursor: pointer; color: var(--md-default-fg-color--light, #666); }
"""


def katex_dir() -> Path:
    "KaTeX's dist folder as the installed `panel` ships it (pimc[explore]; the docs need no CDN)."
    import importlib.util
    spec = importlib.util.find_spec("panel")
    found = sorted(Path(spec.origin).parent.glob("dist/bundled/katex/katex@*/dist")) if spec and spec.origin else []
    if not found or not (found[-1] / "contrib" / "auto-render.min.js").is_file():
        raise SystemExit("KaTeX not found: the docs take it from the panel package (pip install -e '.[dev]', "
                         "or pimc[explore])")
    return found[-1]


def stage_assets(stage: Path) -> tuple[list, list]:
    "Copy KaTeX (JS only: MathML output needs no fonts) and write the site's math script and CSS into `stage`/assets."
    kx, out = katex_dir(), stage / "assets" / "pimc"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(kx / "katex.min.js", out / "katex.min.js")
    shutil.copy(kx / "contrib" / "auto-render.min.js", out / "auto-render.min.js")
    (out / "math.js").write_text(MATH_JS)
    (out / "pimc.css").write_text(SITE_CSS)
    return ([f"assets/pimc/{f}" for f in ("katex.min.js", "auto-render.min.js", "math.js")],
            ["assets/pimc/pimc.css"])


_HEADING = re.compile(r'<h([1-6]) id="([^"]*)">(.*?)<a class="anchor-link" href="#([^"]*)">')
_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)


def _toc_flat(items) -> list:
    out = []
    for it in items: out += [(it.level, it.id), *_toc_flat(it.children)]
    return out


def on_page_content(html_: str, page, config, files) -> str:
    "mkdocs hook. Notebook pages: drop mkdocs-jupyter's MathJax block (an empty `<script src>`: KaTeX does the math),"
    " and give the headings the ids of the page's table of contents, which mkdocs-jupyter computes another way"
    " (so `## `main`` and a repeated heading got TOC links to ids no heading had)."
    if not page.file.src_path.endswith(".ipynb"): return html_
    html_ = _MATHJAX.sub("", html_)
    toc = _toc_flat(page.toc.items)
    heads = [m for m in _HEADING.finditer(html_) if m.group(2) == m.group(4)]
    heads = [m for m in heads if int(m.group(1)) <= max((lv for lv, _ in toc), default=0)]
    if [int(m.group(1)) for m in heads] != [lv for lv, _ in toc]: return html_   # not one to one: left to the check
    for m, (lv, ident) in reversed(list(zip(heads, toc))):
        if m.group(2) == ident: continue
        new = f'<h{lv} id="{ident}">{m.group(3)}<a class="anchor-link" href="#{ident}">'
        html_ = html_[:m.start()] + new + html_[m.end():]
    return html_


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


class _Page(HTMLParser):
    "The ids (anchor targets) of an HTML page and the links it makes: (tag, url, line)."
    LINKS = {"a": "href", "link": "href", "img": "src", "script": "src", "iframe": "src", "source": "src",
             "video": "src", "audio": "src", "embed": "src"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"): self.ids.add(a["id"])
        if tag == "a" and a.get("name"): self.ids.add(a["name"])
        attr = self.LINKS.get(tag)
        if attr in a: self.links.append((tag, a[attr] or "", self.getpos()[0]))


def _parse(page: Path) -> _Page:
    p = _Page()
    p.feed(page.read_text(encoding="utf-8", errors="replace")); p.close()
    return p


def link_problems(site: Path) -> list:
    "Broken internal links of a built site: a missing file, an anchor no page defines, an empty `src`, a path that"
    " leaves the site or starts with `/` (it breaks under a project URL). External links are not followed."
    site = Path(site).resolve()
    pages, bad = {}, []
    def page(f):
        if f not in pages: pages[f] = _parse(f)
        return pages[f]
    for f in sorted(site.rglob("*.html")):
        for tag, url, line in page(f).links:
            where = f"{f.relative_to(site)}:{line} <{tag}> {url!r}"
            if not url.strip():
                if tag not in ("a", "link"): bad.append(f"{where}: empty address")
                continue
            u = urlsplit(url)
            if u.scheme or u.netloc: continue                          # http(s), data:, mailto: ...: not followed
            path = unquote(u.path)
            base = f.parent
            if path.startswith("/"):
                if f != site / "404.html":                             # (mkdocs' 404 page is site-absolute)
                    bad.append(f"{where}: absolute path (breaks under a project URL)"); continue
                base, path = site, path.lstrip("/")
            t = Path(os.path.normpath(base / path)) if path else f
            if t.is_dir(): t = t / "index.html"
            if site not in t.parents and t != site:
                bad.append(f"{where}: leaves the site"); continue
            if not t.is_file(): bad.append(f"{where}: {t.relative_to(site)} does not exist"); continue
            if u.fragment and t.suffix == ".html" and unquote(u.fragment) not in page(t).ids:
                bad.append(f"{where}: no id {u.fragment!r} in {t.relative_to(site)}")
    for f in sorted(site.rglob("*.css")):                              # fonts and images of the stylesheets
        for m in re.finditer(r"url\(\s*['\"]?([^'\")]+)", f.read_text(encoding="utf-8", errors="replace")):
            u = urlsplit(m.group(1))
            if u.scheme or u.netloc or u.path.startswith("/") or not u.path: continue
            if not (f.parent / unquote(u.path)).is_file():
                bad.append(f"{f.relative_to(site)}: url({m.group(1)}) does not exist")
    return bad


def check_links(site: Path | None = None):
    "Every internal link, image, script, stylesheet and anchor of the built site resolves (read as plain files, as"
    " whoever runs this: no privilege drop, so a private folder works too)."
    site = Path(site or SITE)
    if not (site / "index.html").is_file(): raise SystemExit(f"no built site: {site / 'index.html'} is missing")
    bad = link_problems(site)
    if bad:
        raise SystemExit(f"{len(bad)} broken links in {site}:\n" + "\n".join(bad[:80])
                         + (f"\n... and {len(bad) - 80} more" if len(bad) > 80 else ""))


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

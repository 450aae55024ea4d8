"""The committed results agree with each other and with the README: the headline table is what `headline()` makes of
the committed CSVs, the README shows exactly that table, and every results file the README or the results notebook
names exists. (The numbers themselves come from `pimc benchmark ...`, minutes to an hour each: not rerun here.)"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


def cells(row: str) -> str:
    "A markdown table row without the padding in its cells (`DataFrame.to_markdown` pads, hand-written tables may not)."
    return "|".join(c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1])


def table_rows(md: str) -> list[str]:
    "The body rows of the first markdown table in `md`, padding removed."
    lines = md.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("|"))
    rows = []
    for l in lines[start + 2:]:
        if not l.startswith("|"): break
        rows.append(cells(l))
    return rows


def all_rows(text: str) -> set[str]:
    "Every markdown table row in `text` (README, notebook outputs), padding removed."
    return {cells(l) for l in text.splitlines() if l.strip().startswith("|")}


@pytest.fixture(scope="module")
def headline_md():
    f = RESULTS / "headline.md"
    if not f.exists(): pytest.skip("no results/headline.md committed yet")
    return f.read_text()


def test_headline_is_what_the_csvs_say(tmp_path, headline_md):
    import shutil
    from pimc.reports import headline
    for f in RESULTS.glob("*.csv"): shutil.copy(f, tmp_path / f.name)
    headline(tmp_path)
    assert table_rows((tmp_path / "headline.md").read_text()) == table_rows(headline_md), \
        "results/headline.md is stale: run `pimc benchmark headline` and commit it"


def test_readme_shows_the_headline_table(headline_md):
    readme = (ROOT / "README.md").read_text()
    missing = [r for r in table_rows(headline_md) if r not in all_rows(readme)]
    assert not missing, f"README.md (nbs/index.ipynb) lacks these rows of results/headline.md: {missing}"


def test_linked_results_exist():
    readme = (ROOT / "README.md").read_text()
    linked = set(re.findall(r"\]\((results/[^)#\s]+)\)", readme))
    assert linked, "the README links no results"
    assert not [p for p in linked if not (ROOT / p).exists()], [p for p in linked if not (ROOT / p).exists()]


def test_results_notebook_is_current(headline_md):
    "nbs/results.ipynb is committed executed (tables and plots visible without running it): its outputs show today's headline."
    import nbformat
    nb = nbformat.read(ROOT / "nbs" / "results.ipynb", as_version=4)
    shown = "\n".join(o.get("data", {}).get("text/markdown", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    stale = [r for r in table_rows(headline_md) if r not in all_rows(shown)]
    assert not stale, ("re-execute it: make outputs NBS=nbs/results.ipynb "
                       f"(rows missing: {stale[:2]})")

"""Authoring aid: round-trip a notebook through a py:percent script (jupytext), keeping it nbdev-clean.

    python tools/nb.py topy nbs/02_recurrence.ipynb /tmp/rec.py   # notebook -> editable script
    python tools/nb.py tonb /tmp/rec.py nbs/02_recurrence.ipynb   # script -> notebook (kernelspec python3)

The notebook stays the source of truth; the script is a scratch copy for editing in a text editor.
Cell tags survive (`# %% tags=["parameters"]`), so papermill's parameters cell can be written this way, and so do
the committed outputs of every cell whose source did not change (`make outputs` executes the changed ones).
"""
import hashlib, sys
import jupytext, nbformat

KERNEL = {"display_name": "python3", "language": "python", "name": "python3"}


def tonb(src, dst):
    nb = jupytext.read(src, fmt="py:percent")
    try: old = {c.source: c for c in nbformat.read(dst, as_version=4).cells if c.cell_type == "code"}
    except (FileNotFoundError, ValueError): old = {}
    nb.metadata = {"kernelspec": KERNEL}
    seen = set()
    for c in nb.cells:
        c.metadata = {k: v for k, v in c.metadata.items() if k == "tags"}
        cid = hashlib.sha1(c.source.encode()).hexdigest()[:8]  # stable ids: unchanged cells keep theirs
        while cid in seen: cid = hashlib.sha1(cid.encode()).hexdigest()[:8]
        seen.add(cid); c.id = cid
        if c.cell_type == "code" and c.source in old: c.outputs = old[c.source].get("outputs", [])
    nbformat.write(nb, dst)


def topy(src, dst):
    jupytext.write(nbformat.read(src, as_version=4), dst, fmt="py:percent")


if __name__ == "__main__":
    cmd, src, dst = sys.argv[1:4]
    {"tonb": tonb, "topy": topy}[cmd](src, dst)

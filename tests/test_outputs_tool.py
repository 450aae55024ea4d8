"""tools/outputs.py stores notebook outputs without what changes from machine to machine: paths, durations,
throughputs and load averages; the committed notebooks carry none of them."""
import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("pimc_outputs_tool", ROOT / "tools" / "outputs.py")
outputs = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(outputs)


@pytest.mark.parametrize("raw, kept", [
    ("PretrainRun(/tmp/x1/toy: 40 steps, final loss 3.1395, 1430 pairs/s, data 2%)",
     "PretrainRun(/tmp/…/toy: 40 steps, final loss 3.1395, … pairs/s, data …%)"),
    ("backend: numba; load average 4.97 -> 5.01", "backend: numba; load average … -> …"),
    ("6,454 pairs/s (33,168 per CPU-s)", "… pairs/s (… per CPU-s)"),
    ("cached: 1140 pairs/s (106 per CPU-second), input share   0.5% (whole",
     "cached: … pairs/s (… per CPU-second), input share   …% (whole"),
    ("trained in 12.5 s at 3.2 steps/s", "trained in … s at … steps/s"),
    ("40 steps, 256 pairs, 3 epochs, OA 95.8%", "40 steps, 256 pairs, 3 epochs, OA 95.8%"),   # results stay
])
def test_machine_figures_are_masked(raw, kept):
    assert outputs._clean_text(raw, outputs._patterns()) == kept


def test_default_samples_folder_is_masked(monkeypatch):
    monkeypatch.delenv("PIMC_SAMPLES", raising=False)
    where = ROOT.parent / "shared" / "data" / "eurosat_rgb"
    assert outputs._clean_text(f"read {where}", outputs._patterns()) == "read $PIMC_SAMPLES/eurosat_rgb"


MACHINE = re.compile(r"\d[\d,.]* (pairs|chips)/s\b|load average [\d.]+|data \d+%\)|/work/shared")
PATHS = re.compile(r"/work/shared|/root/|/home/\w+")   # results.ipynb shows measured figures from results/: paths only


def test_committed_notebooks_carry_no_machine_figures():
    found = []
    for p in sorted((ROOT / "nbs").rglob("*.ipynb")) + sorted((ROOT / "pimc" / "notebooks").glob("*.ipynb")):
        for i, c in enumerate(nbformat.read(p, as_version=4).cells):
            for o in c.get("outputs", []) if c.cell_type == "code" else []:
                text = o.get("text", "") + "".join("".join(v) for k, v in o.get("data", {}).items()
                                                   if k.startswith("text/") and k != "text/html")
                pat = PATHS if p.name == "results.ipynb" else MACHINE
                found += [f"{p.relative_to(ROOT)} cell {i}: {m.group(0)!r}" for m in pat.finditer(text)]
    assert not found, "machine figures in stored outputs (rerun tools/outputs.py on them):\n" + "\n".join(found[:20])

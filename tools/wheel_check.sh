#!/usr/bin/env bash
# Installed, not cloned: build the wheel, install it in a fresh venv (CPU torch first, pip's cache reused) and run a
# packaged experiment notebook by name through `pimc run` with a tiny parameter set, outside the checkout; then
# check its sidecar. Usage: tools/wheel_check.sh [python-with-build]  (default .venv/bin/python; `make wheel-check`)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-.venv/bin/python}"
TORCH="${TORCH:-torch==2.13.0}"
tmp="$(mktemp -d -t pimc-wheel-XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
t0=$(date +%s)
"$PY" -m build --wheel --outdir "$tmp/dist" . >"$tmp/build.log" 2>&1 || { tail -30 "$tmp/build.log"; exit 1; }
rm -rf build
whl="$(ls "$tmp"/dist/pimc-*.whl)"
unzip -l "$whl" >"$tmp/files.txt"
for f in pimc/notebooks/pretrain.ipynb pimc/notebooks/smoke.ipynb pimc/cli.py pimc/speed/rp.py; do
  grep -q " $f\$" "$tmp/files.txt" || { echo "wheel check: $f is not in $(basename "$whl")"; exit 1; }
done
grep -qE " pimc-[^/]+\.dist-info/licenses/LICENSE\$" "$tmp/files.txt" || { echo "wheel check: no LICENSE in $(basename "$whl")"; exit 1; }
if grep -qE " (nbs|tests)/" "$tmp/files.txt"; then echo "wheel check: the wheel holds nbs/ or tests/"; exit 1; fi
"$PY" -m venv "$tmp/venv"
pip_install() {   # quiet, no .pyc compilation (most of the time of a torch install); its log shown on failure
  "$tmp/venv/bin/pip" install -q --no-compile "$@" >>"$tmp/pip.log" 2>&1 || { tail -40 "$tmp/pip.log"; exit 1; }
}
pip_install "$TORCH"
pip_install "$whl[experiments]"
if [ ! -x "$tmp/venv/bin/pimc" ]; then   # seen once on a busy machine: pip said nothing, yet no console script
  echo "wheel check: no pimc command after installing $(basename "$whl"); pip's log and a second try:"
  tail -20 "$tmp/pip.log"; "$tmp/venv/bin/pip" show -f pimc | tail -5 || true
  pip_install --force-reinstall --no-deps "$whl"
  [ -x "$tmp/venv/bin/pimc" ] || { echo "wheel check: still no pimc command in $tmp/venv/bin"; exit 1; }
fi
t1=$(date +%s)
cd "$tmp"   # nothing of the checkout is importable from here
env -u PYTHONPATH PIMC_CACHE="$tmp/cache" "$tmp/venv/bin/pimc" notebooks
env -u PYTHONPATH PIMC_CACHE="$tmp/cache" "$tmp/venv/bin/pimc" run smoke -p n_steps 5 -p n_pixels 2 \
  --out "$tmp/runs" --name tiny
"$tmp/venv/bin/python" - "$tmp/runs/tiny/run.json" <<'EOF'
import json, sys
rec = json.load(open(sys.argv[1]))
assert rec["status"] == "complete", rec
assert rec["params"]["n_steps"] == 5 and rec["params"]["n_pixels"] == 2, rec["params"]
assert "site-packages" in rec["notebook"] and rec["metrics"]["rmse"] > 0, rec
print(f"wheel check: sidecar ok ({rec['notebook'].split('site-packages/')[1]}, rmse {rec['metrics']['rmse']:.3f})")
EOF
echo "wheel check passed: build + install $((t1 - t0)) s, run $(( $(date +%s) - t1 )) s"

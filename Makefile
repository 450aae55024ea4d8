# The two commands a user needs:  `make demo`  and  `make test`.  Both install everything first.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# the CPU wheel of torch that lies on this disk; the package itself only asks for torch>=2.2,<3
TORCH   ?= torch==2.13.0

.PHONY: install demo test test-fast nbtest pytest export clean-nbs readme speed browser-deps check-sync help docs outputs wheel-check

help:
	@echo "make demo   install, then run the main job (pretraining on the synthetic mini-PASTIS)"
	@echo "make test   install, then run the whole test suite (notebooks + pytest, browser test included)"
	@echo "make docs   the docs site from the notebooks and their stored outputs, into _docs/ (strict, links checked)"
	@echo "make outputs [NBS='nbs/00_bands.ipynb ...']   execute the source notebooks and save them with their outputs"
	@echo "make wheel-check   build the wheel, install it in a fresh venv, run a packaged notebook with pimc run"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/pimc demo

# Chromium for the browser test comes from Debian; without root/apt the browser test skips and says why.
browser-deps:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "chromium not installed: the browser test will be skipped"; }

nbtest: install
	$(BIN)/nbdev-test --n-workers 2 --timing

pytest: install browser-deps
	$(BIN)/python -m pytest -q -ra --durations=15

test: nbtest pytest

export: install
	$(BIN)/nbdev-export

clean-nbs: install
	$(BIN)/nbdev-clean
	$(BIN)/nbdev-clean --fname pimc/notebooks

readme: install
	$(BIN)/python tools/readme.py

# fails when nbdev-clean / nbdev-export / the README generator would change a committed file
check-sync: install
	$(BIN)/nbdev-clean && $(BIN)/nbdev-clean --fname pimc/notebooks && $(BIN)/nbdev-export && $(BIN)/python tools/readme.py
	@git status --porcelain -- nbs pimc README.md | grep . && { echo "notebooks, package or README out of sync (run: make clean-nbs export readme, then commit)"; git diff --stat; exit 1; } || echo "notebooks, package and README in sync"

speed: install
	$(BIN)/pimc speed rp
	$(BIN)/pimc speed pairs
	$(BIN)/pimc speed pretrain

# the site: README as home page, every notebook a page with its stored outputs (nothing re-executed), each exported
# function's signature and docments (nbdev's show_doc), formulas by KaTeX from disk; mkdocs --strict, then every
# internal link, anchor, script and stylesheet checked (plain Python: works as any user, in a private folder too)
docs: install
	$(BIN)/python tools/docs.py

# execute source notebooks (default: every one in nbs/) and commit them with their outputs; see tools/outputs.py
NBS ?=
outputs: install
	$(BIN)/python tools/outputs.py $(NBS)

wheel-check: install
	bash tools/wheel_check.sh $(BIN)/python

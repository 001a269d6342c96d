# The book's interface. `make book` and `make test` do everything on a fresh machine.
#   make install   virtual environment in .venv: pinned requirements, the package, a Jupyter kernel
#   make book      papermill executes every chapter (only those whose notebook or src/ changed,
#                  JOBS=2 at a time), then Jupyter Book renders the executed notebooks into _build/html
#   make test      lint, then the whole test suite (unit tests, chapter smoke runs, a quick site build)
#   make check     lint and the unit tests that start no other process (no chapter runs, no site,
#                  no worker pool): the edit-test loop, under a minute
#   make chapter NB=01_primer P='-p seed 3'   rerun one chapter with papermill parameters
#   make paper     the paper-scale results store (store/): runs what is missing, corrupt or stale,
#                  on the GPU where torch sees one, each step replayed from a CUDA graph
#                  (EXPERIMENT=name for one experiment, MATCH='tanh/3/*' for some runs,
#                  WORKERS=n CPU processes, SCHEDULER=address for a dask cluster, EAGER=1 no
#                  CUDA graph); make paper-status says what is there; make paper-reexpress
#                  BEFORE=<commit> carries the store over a code change that changes no number
#   make bench     speed figures (SG cost, seed batching, chapter and book times) -> _build/bench.json
#   make lab       JupyterLab on 127.0.0.1        make serve   the built site on 127.0.0.1
#   make lint      ruff                           make clean   remove _build
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= .
BUILD := $(OUT)/_build
STAGE := $(BUILD)/src
RESULTS := $(abspath $(BUILD))/results
PM_PARAMS ?=
# papermill, less a 2 s import it never uses (_ext/papermill_run.py says which)
PAPERMILL = $(BIN)/python _ext/papermill_run.py
PORT ?= 8000
export SYNTHGRAD_QUIET ?= 1

CHAPTERS := $(sort $(wildcard book/[0-9][0-9]_*.ipynb))
PAGES := $(wildcard book/*.md) book/references.bib _config.yml _toc.yml $(wildcard _ext/*.py)
STAGED := $(PAGES:%=$(STAGE)/%)
SRC := $(shell find src -name '*.py' -not -path '*/__pycache__/*')
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: install book site test check browser chapter lab serve lint clean bench paper paper-status paper-reexpress stall-probe fresh

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml _ext/site_assets.py _ext/widgets-config.js _ext/actionlint.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (synthgrad)" >/dev/null
	$(BIN)/python _ext/site_assets.py _assets
	$(BIN)/python _ext/actionlint.py --install $(VENV)/actionlint
	touch $@

# Chapters execute JOBS at a time, each on one torch thread: most of them train small models that
# a second thread hardly speeds up (chapters 2, 3 and 5 by 0-12%), so two chapters side by side
# do nearly twice the work of one with two threads. The WIDE chapters (many runs, trained one
# per core in worker processes of one thread each: synthgrad.parallel) run first, one after the
# other, each alone on every core. JOBS=1: one chapter at a time, every core. Never more threads
# than cores. THREADS=n sets every chapter's threads (the tests: 1).
JOBS ?= 2
CORES := $(shell nproc 2>/dev/null || echo 1)
WIDE := 01_primer 05_representations 07_update_unlocking 08_in_time
WIDE_EXECUTED := $(WIDE:%=$(STAGE)/book/%.ipynb)
# the other chapters start two at a time, the longest first, so that the short ones fill the end
LONG := 03_convergence 06_unified_view
ORDERED := $(WIDE) $(LONG) $(filter-out $(WIDE) $(LONG),$(CHAPTERS:book/%.ipynb=%))
EXECUTED := $(ORDERED:%=$(STAGE)/book/%.ipynb)
THREADS ?=
threads = $(or $(THREADS),$(if $(or $(filter $(WIDE),$*),$(filter 1,$(JOBS))),$(CORES),1))

book:
	@start=$$(date +%s); $(MAKE) --no-print-directory -j$(JOBS) site; \
		echo $$(( $$(date +%s) - start )) > $(BUILD)/book-seconds

site: $(BUILD)/html/index.html
	@echo "site: $(BUILD)/html/index.html"

# A chapter is executed again only when its notebook, src/ or the installed requirements change.
$(STAGE)/book/%.ipynb: book/%.ipynb $(SRC) $(STAMP)
	@mkdir -p $(@D) $(RESULTS)
	@echo "executing $< $(PM_PARAMS)"
	OMP_NUM_THREADS=$(threads) SYNTHGRAD_RESULTS=$(RESULTS) $(PAPERMILL) $< $@.part.ipynb \
		-k python3 --no-progress-bar --log-level WARNING $(PM_PARAMS)
	mv $@.part.ipynb $@

# (with THREADS set, e.g. the tests' quick build at THREADS=1, every chapter runs on that many
# threads, JOBS at a time in the order above, so that both cores stay busy)
ifeq ($(THREADS),)
$(filter-out $(WIDE_EXECUTED),$(EXECUTED)): | $(WIDE_EXECUTED)
$(STAGE)/book/05_representations.ipynb: | $(STAGE)/book/01_primer.ipynb
$(STAGE)/book/07_update_unlocking.ipynb: | $(STAGE)/book/05_representations.ipynb
$(STAGE)/book/08_in_time.ipynb: | $(STAGE)/book/07_update_unlocking.ipynb
endif

$(STAGE)/%: %
	@mkdir -p $(@D)
	cp $< $@

# The site's repository and issues buttons follow one setting, BOOK_REPOSITORY
# (https://<host>/<owner>/<repo>; empty: no such buttons), written into the staged config by
# _ext/repository.py. (A changed value takes effect once the staged copy is remade: make clean.)
BOOK_REPOSITORY ?=
export BOOK_REPOSITORY
$(STAGE)/_config.yml: _config.yml _ext/repository.py | $(STAMP)
	@mkdir -p $(@D)
	cp $< $@
	$(BIN)/python _ext/repository.py $@

$(STAGE)/_assets/.copied: $(STAMP)
	rm -rf $(STAGE)/_assets && mkdir -p $(STAGE) && cp -r _assets $(STAGE)/_assets
	touch $@

# the book-wide claims table, gathered from every chapter's ledger
$(STAGE)/book/_claims.md: $(EXECUTED)
	$(BIN)/python -m synthgrad.ledger $(RESULTS) > $@

# the versions of the key packages the site was built with
$(STAGE)/book/_environment.md: $(STAMP) $(SRC)
	@mkdir -p $(@D)
	$(BIN)/python -m synthgrad.environment > $@

# "How this site was built" (book/build.md includes it): when, how long, on what and at which
# parameters each chapter ran, the results store's runs by state, device and commit (the states
# against the chapters' grids: paper status), the versions, what the served files hold, and the
# verdict changes of book/verdict-changes.yml with any this build makes that it does not record
$(STAGE)/book/_build_status.md: $(EXECUTED) book/verdict-changes.yml $(wildcard store/*/manifest.json) $(SRC) $(STAMP)
	@mkdir -p $(@D)
	$(BIN)/python -m synthgrad.paper status --json > $(BUILD)/store-status.json
	$(BIN)/python -m synthgrad.build_status $(STAGE)/book $(RESULTS) \
		--store-status $(BUILD)/store-status.json --changes book/verdict-changes.yml > $@

# the files behind the site, served with it (Sphinx's html_extra_path: _extra, at the html
# root): each chapter's ledger at results/<chapter>.json, each store manifest at
# results/store/<experiment>/manifest.json
$(STAGE)/_extra.copied: $(EXECUTED) $(wildcard store/*/manifest.json)
	rm -rf $(STAGE)/_extra && mkdir -p $(STAGE)/_extra/results
	cp $(ORDERED:%=$(RESULTS)/%.json) $(STAGE)/_extra/results/
	for m in $(wildcard store/*/manifest.json); do \
		mkdir -p $(STAGE)/_extra/results/$$(dirname $$m) && cp $$m $(STAGE)/_extra/results/$$m; done
	touch $@

$(BUILD)/html/index.html: $(EXECUTED) $(STAGED) $(STAGE)/book/_claims.md $(STAGE)/book/_environment.md \
		$(STAGE)/book/_build_status.md $(STAGE)/_extra.copied $(STAGE)/_assets/.copied
	@t=$$(date +%s); $(BIN)/jupyter-book build $(STAGE) --path-output $(OUT) -W -n --keep-going --quiet; \
		echo $$(( $$(date +%s) - t )) > $(BUILD)/render-seconds
	touch $@

# Tests run torch on one thread: their small models gain nothing from a second one, and on a
# machine whose other core is busy a second OpenMP thread makes every parallel op wait for a
# thread that is not running (many-fold slowdowns).
TEST_ENV := OMP_NUM_THREADS=1

# each records its wall time (lint included) for make bench: $(BUILD)/test-seconds, check-seconds.
# make test is one pytest run on every core (pytest-xdist, --dist loadgroup): the book tests are
# one group (xdist_group "book"), run in order by one worker on one quick build of the site
# (itself two chapters at a time), while the other workers take the unit tests and those that
# start other processes (marker `processes`: a kernel, JupyterLab, worker pools, chapter 7's
# stages, dask). make check runs neither those nor the book tests.
test: $(STAMP) browser
	@start=$$(date +%s); rc=0; $(MAKE) --no-print-directory lint && \
		$(TEST_ENV) $(BIN)/python -m pytest -n $(CORES) --dist loadgroup || rc=$$?; \
		mkdir -p $(BUILD); echo $$(( $$(date +%s) - start )) > $(BUILD)/test-seconds; exit $$rc

check: $(STAMP)
	@start=$$(date +%s); rc=0; $(MAKE) --no-print-directory lint && \
		$(TEST_ENV) $(BIN)/python -m pytest -m "not book and not processes" -q -n $(CORES) || rc=$$?; \
		mkdir -p $(BUILD); echo $$(( $$(date +%s) - start )) > $(BUILD)/check-seconds; exit $$rc

# the browser tests drive Debian's Chromium with Playwright (never `playwright install`)
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "browser tests need Debian's chromium at $(CHROMIUM) (sudo apt-get install chromium); they are skipped"; fi; }

NB ?=
P ?=
chapter: $(STAMP)
	@test -n "$(NB)" -a -f "book/$(NB).ipynb" || { echo "usage: make chapter NB=<name> P='-p seed 3'; chapters: $(notdir $(basename $(CHAPTERS)))"; exit 2; }
	@mkdir -p $(BUILD)/runs/results
	SYNTHGRAD_RESULTS=$(abspath $(BUILD))/runs/results $(PAPERMILL) book/$(NB).ipynb \
		$(BUILD)/runs/$(NB).ipynb -k python3 --log-level WARNING $(P)
	@echo "executed notebook: $(BUILD)/runs/$(NB).ipynb; claims: $(BUILD)/runs/results/$(NB).json"

# benchmarks print figures, they do not fail on a missed target; BENCH_ARGS=--cold also times a cold build
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py --build $(BUILD) --out $(BUILD)/bench.json $(BENCH_ARGS)

lab: $(STAMP)
	SYNTHGRAD_QUIET=0 $(BIN)/jupyter lab --ip=127.0.0.1 --no-browser $(ROOT_FLAG) --ServerApp.root_dir=.

serve:
	@test -f $(BUILD)/html/index.html || { echo "no site yet: run make book"; exit 2; }
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory $(BUILD)/html

lint: $(STAMP)
	$(BIN)/ruff check src tests book benchmarks
	$(BIN)/ruff format --check src tests book benchmarks

clean:
	rm -rf $(BUILD)

paper: $(STAMP)
	SYNTHGRAD_QUIET=0 $(BIN)/python -m synthgrad.paper make $(if $(EXPERIMENT),--experiment $(EXPERIMENT)) \
		$(if $(DEVICE),--device $(DEVICE)) $(if $(SCHEDULER),--scheduler $(SCHEDULER)) \
		$(if $(MATCH),--match '$(MATCH)') $(if $(WORKERS),--workers $(WORKERS)) $(if $(EAGER),--eager)

paper-status: $(STAMP)
	$(BIN)/python -m synthgrad.paper status

# chapter 7's diagnosis of the asynchronous stall: both DNI schedules rerun at the grid of
# record's settings and their final states probed (store/07_stall/probe.json, ~7 minutes, alone)
stall-probe: $(STAMP)
	$(BIN)/python -m synthgrad.chapters.update_unlocking_stall

# after a change to the code the store's runs call that changes no number (every run now
# stale): re-run one run per experiment under the code of BEFORE and under this code, and only
# if their losses are the same bit for bit, carry the manifests' source hashes over
paper-reexpress: $(STAMP)
	@test -n "$(BEFORE)" || { echo "usage: make paper-reexpress BEFORE=<commit that made the store's hashes>"; exit 2; }
	$(BIN)/python -m synthgrad.paper reexpress --before $(BEFORE)

# fragility: the chapters rerun with a seed they have never used, ledgers kept in store/fresh
# (resumable: a chapter whose ledger is there is skipped; FORCE=1 reruns them all)
FRESH_SEED ?= 1000
FRESH_CHAPTERS ?= 01_primer 02_critical_points 03_convergence 04_implied_loss 06_unified_view
fresh: $(STAMP)
	@mkdir -p store/fresh $(BUILD)/fresh
	@for nb in $(FRESH_CHAPTERS); do \
		if [ -f store/fresh/$$nb.json ] && [ -z "$(FORCE)" ]; then echo "$$nb: kept (store/fresh/$$nb.json)"; continue; fi; \
		echo "$$nb: seed $(FRESH_SEED)"; \
		SYNTHGRAD_RESULTS=$(abspath store/fresh) SYNTHGRAD_FRESH=$(abspath $(BUILD))/no-fresh \
			$(PAPERMILL) book/$$nb.ipynb $(BUILD)/fresh/$$nb.ipynb -k python3 --log-level WARNING \
			-p seed $(FRESH_SEED) || exit 1; \
	done

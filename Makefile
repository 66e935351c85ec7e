# onemap: two commands on a fresh Debian 12 machine
#   make demo   install what is missing, start the embedded PostGIS, load the demo city, serve
#   make test   the same set-up, then the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PORT   ?= 8000
HOST   ?= 127.0.0.1
SIZE   ?= small
SEED   ?= 42
PYTEST_ARGS ?=
ONEMAP := $(VENV)/bin/onemap
OGCTESTS_VENV ?= .venv-ogctests

.PHONY: demo test bench lint os-deps venv web tools db serve clean notebooks-kernel notebooks

demo: os-deps venv web
	$(ONEMAP) db start
	$(ONEMAP) db upgrade
	$(ONEMAP) demo --size $(SIZE) --seed $(SEED)
	$(ONEMAP) serve --host $(HOST) --port $(PORT)

test: os-deps venv web tools $(OGCTESTS_VENV)/.installed
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: os-deps venv
	$(VENV)/bin/python -m benchmarks $(BENCH_ARGS)

lint: venv
	$(VENV)/bin/ruff check spatial layers api tests benchmarks
	$(VENV)/bin/mypy

os-deps:
	@./.ci/os-packages.sh

venv: $(VENV)/.installed

# the pages' front-end libraries from the npm registry (web/package-lock.json), copied to where the app
# serves them (api/web/static/vendor, not committed); nothing is fetched at run time
WEB_VENDOR := api/web/static/vendor/.installed
# node tools the tests run (the glTF validator of the 3D tiles), never fetched at run time
tools: tools/node_modules/.installed

tools/node_modules/.installed: tools/package.json tools/package-lock.json
	npm ci --prefix tools --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

web: $(WEB_VENDOR)

$(WEB_VENDOR): web/package-lock.json web/vendor.txt web/copy_vendor.py
	npm ci --prefix web --no-audit --no-fund --ignore-scripts --loglevel=error
	$(PYTHON) web/copy_vendor.py

# reinstall when the declared dependencies change
$(VENV)/.installed: pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[dev]'
	@touch $@

# the independent OGC API test suite (extra `ogctests` in pyproject.toml) in a venv of its own:
# its pins (httpx <0.28, pyarrow <18, pytest <9) would downgrade the project's; tests/test_ogctests.py runs it
$(OGCTESTS_VENV)/.installed: pyproject.toml
	@test -x $(OGCTESTS_VENV)/bin/python || $(PYTHON) -m venv $(OGCTESTS_VENV)
	$(OGCTESTS_VENV)/bin/python -m pip install -q $$($(PYTHON) -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['ogctests']))")
	@touch $@

# the planners' notebooks: JupyterLab in .venv and an "onemap" kernel for any Jupyter
notebooks-kernel: venv
	$(VENV)/bin/python -m pip install -q -e '.[dev,notebooks]'
	$(VENV)/bin/python -m ipykernel install --user --name onemap --display-name "Python 3 (onemap)"

notebooks: notebooks-kernel
	$(VENV)/bin/jupyter lab notebooks/

serve: venv web
	$(ONEMAP) serve --host $(HOST) --port $(PORT)

clean:
	-$(ONEMAP) db stop
	rm -rf var .pytest_cache

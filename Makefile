# picows_like: build, test, demo, bench.  Everything runs in a local venv (.venv).
# Another Python gets its own venv next to it (the in-place extension modules carry
# the Python version in their names, so the builds coexist), e.g.
#   make test PYTHON=/usr/bin/python3.9 VENV=.venv-3.9
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip -q --disable-pip-version-check
# Build and test dependencies (the `test` extra in pyproject.toml lists the same).  websockets is
# pinned where it exists (3.11+): the differential tests compare our websockets APIs with that release.  picows is
# the reference: the echo benchmark's end-to-end test and PICOWS_LIKE_TEST_AGAINST_PICOWS=1 use it.
DEPS   := "Cython>=3.0" setuptools wheel multidict pytest "pytest-asyncio>=1.0,<2" \
          "uvloop; sys_platform != 'win32'" "websockets==17.4; python_version >= '3.11'" "websockets>=13; python_version < '3.11'" aiohttp trustme pproxy \
          "python-socks[asyncio]>=2.4,<4" hypothesis mypy "aiofastnet>=1.2" "picows==2.3.1" "sphinx>=7" \
          "trio>=0.22" pytest-trio "trio-websocket==0.12.2" werkzeug websocket-client

.PHONY: all build debug test smoke docs demo bench bench-quick clean fuzz sdist sdist-check \
        compat-picows compat-trio

all: build

$(VENV)/.deps: Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install $(DEPS)
	$(PY) -c "import site, pathlib; pathlib.Path(site.getsitepackages()[0], 'picows_like_dev.pth').write_text('$(CURDIR)\n')"
	touch $@

# Release build: -O3, no bounds/wraparound checks.
build: $(VENV)/.deps
	$(PY) setup.py -q build_ext --inplace -j 2

# Debug build: Cython line tracing, bounds checks, C assertions, -O0 -g.
debug: $(VENV)/.deps
	PICOWS_LIKE_DEBUG=1 $(PY) setup.py -q build_ext --inplace --force -j 2

test: build docs
	$(PY) -m pytest -q tests

# A quick check that the build imports and works on this Python: the examples, the typed
# usage and the documentation snippets (about 1 min; .ci/run uses it for the versions it
# does not run the whole suite on).
smoke: build
	$(PY) -m pytest -q -p no:cacheprovider tests/test_examples.py tests/test_doc_snippets.py \
	  tests/test_cython_api.py::test_typed_api_usage_runs

# HTML docs (Sphinx, autodoc of the modules built in place) in docs/_build/html;
# -W: any warning fails the build.  About 4 s, so `make test` runs it too.
docs: build
	$(PY) -m sphinx -W --keep-going -q -E -b html docs docs/_build/html

demo: build
	$(PY) examples/echo_demo.py

$(VENV)/.bench: $(VENV)/.deps
	$(PIP) install "picows==2.3.1" matplotlib
	touch $@

# Echo benchmark (benchmarks/README.md): full run < 15 min, then the README chart.
bench: build $(VENV)/.bench
	$(PY) benchmarks/echo.py
	$(PY) benchmarks/chart.py

# < 3 min; tables in benchmarks/results/echo-quick-*.md.
bench-quick: build $(VENV)/.bench
	$(PY) benchmarks/echo.py --quick

# picows 2.3.1's own test suite against picows_like (tests/compat/run_picows_suite.py):
# the sdist is downloaded into build/compat-picows (sha256 checked), its tests run through
# an import shim, and a table is printed.  Fails on any failure that is not a listed deviation.
# Its test dependencies beyond ours:
COMPAT_DEPS := async-timeout anyio tiny-proxy

$(VENV)/.compat: $(VENV)/.deps
	$(PIP) install $(COMPAT_DEPS)
	touch $@

compat-picows: build $(VENV)/.compat
	$(PY) tests/compat/run_picows_suite.py $(COMPAT_ARGS)

# trio-websocket 0.12.2's tests/test_connection.py against picows_like.trio: the sdist is
# downloaded into build/compat-trio (sha256 checked), run through an import shim, a table
# printed.  Fails on a failure of a test that does not use trio-websocket internals.
compat-trio: build
	$(PY) tests/compat/run_trio_websocket_suite.py $(COMPAT_ARGS)

# The sdist and the wheel, as users get them (python -m build, in dist/).
sdist:
	rm -rf build/tools
	$(PYTHON) -m venv build/tools
	build/tools/bin/python -m pip -q --disable-pip-version-check install build
	build/tools/bin/python -m build --outdir dist .

# Packaging check (about 6-9 min on 2 busy cores: one compile plus the whole suite):
# `python -m build` makes the sdist and, from that sdist, the wheel; the wheel (what pip
# would build from the sdist) goes with the `test` extra into a fresh venv; the sdist is
# unpacked, its package sources deleted (so only the installed package can be imported)
# and the whole suite runs from there.  Fails on anything missing from MANIFEST.in or
# package-data.
SDIST_CHECK := build/sdist-check
sdist-check:
	rm -rf $(SDIST_CHECK) dist
	$(MAKE) sdist
	ls dist/picows_like-*.tar.gz dist/picows_like-*.whl
	$(PYTHON) -m venv $(SDIST_CHECK)/venv
	$(SDIST_CHECK)/venv/bin/python -m pip -q --disable-pip-version-check install \
	  "$$(ls dist/picows_like-*.whl)[test]"
	mkdir -p $(SDIST_CHECK)/src
	tar -xzf dist/picows_like-*.tar.gz -C $(SDIST_CHECK)/src --strip-components=1
	rm -rf $(SDIST_CHECK)/src/picows_like
	cd $(SDIST_CHECK)/src && venv=$(CURDIR)/$(SDIST_CHECK)/venv && \
	  $$venv/bin/python -c "import picows_like, sys; assert 'site-packages' in picows_like.__file__, picows_like.__file__" && \
	  $$venv/bin/python -m pytest -q -p no:cacheprovider tests

clean:
	rm -rf build dist docs/_build picows_like/*.so picows_like/*.c picows_like/*.html \
	  picows_like/websockets/asyncio/*.so picows_like/websockets/asyncio/*.c

# Long fuzzing run (atheris, release and ASan builds): FUZZ_SECONDS per target and pass.
FUZZ_SECONDS ?= 300

fuzz: build
	$(PIP) install atheris
	ASAN=1 PY=$(PY) sh fuzz/run.sh $(FUZZ_SECONDS)

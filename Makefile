# picows_like: build, test, demo, bench.  Everything runs in a local venv (.venv).
# Another Python gets its own venv next to it (the in-place extension modules carry
# the Python version in their names, so the builds coexist), e.g.
#   make test PYTHON=/usr/bin/python3.9 VENV=.venv-3.9
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip -q --disable-pip-version-check
# Build and test dependencies (the `test` extra in pyproject.toml lists the same).  picows is
# the reference: the echo benchmark's end-to-end test and PICOWS_LIKE_TEST_AGAINST_PICOWS=1 use it.
DEPS   := "Cython>=3.0" setuptools wheel multidict pytest "pytest-asyncio>=1.0,<2" \
          "uvloop; sys_platform != 'win32'" "websockets>=13" aiohttp trustme pproxy \
          "python-socks>=2.4,<4" hypothesis mypy "aiofastnet>=1.2" "picows==2.3.1" "sphinx>=7"

.PHONY: all build debug test docs demo bench bench-quick clean fuzz

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

clean:
	rm -rf build docs/_build picows_like/*.so picows_like/*.c picows_like/*.html \
	  picows_like/websockets/asyncio/*.so picows_like/websockets/asyncio/*.c

# Long fuzzing run (atheris, release and ASan builds): FUZZ_SECONDS per target and pass.
FUZZ_SECONDS ?= 300

fuzz: build
	$(PIP) install atheris
	ASAN=1 PY=$(PY) sh fuzz/run.sh $(FUZZ_SECONDS)

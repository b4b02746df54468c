# Everything a fresh machine needs (Python 3.10+, pip, make) is installed by these targets.
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
BIN := .venv/bin
PORT ?= 8080
DIST ?= dist
DIST_PACKAGES ?= $(wildcard packages/*)

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := .venv

.PHONY: install run dist test lint format typecheck pytest bench bench-async clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv>=0.5,<1"

.venv/.synced: $(UV) pyproject.toml $(wildcard packages/*/pyproject.toml examples/*/pyproject.toml)
	$(UV) sync --all-packages --all-extras --python $(PYTHON)
	@touch $@

install: .venv/.synced

## Serve the example "directmail" service on http://127.0.0.1:$(PORT) (Swagger UI at /ui/).
## exec: the server replaces the recipe's shell, so make's SIGTERM (passed on to its child)
## reaches the server, and stopping make stops it.
run: install
	exec env CHASSIS_CONFIG=examples/directmail/chassis.toml $(BIN)/chassis run directmail.service:create_app --factory --host 127.0.0.1 --port $(PORT)

## A wheel and an sdist of every package under packages/, in $(DIST)/:
## pip install --find-links dist chassis-core chassis-metrics 'chassis-tracing[sdk]'
## and $(DIST)/build-info.json (commit, time) for GET /info: CHASSIS_INFO__BUILD_FILE.
dist: $(UV)
	@for package in $(DIST_PACKAGES); do \
		$(UV) build --no-sources --out-dir $(DIST) $$package || exit 1; \
	done
	sh deploy/build-info.sh $(DIST)/build-info.json

## Lint, type-check and run every test.
test: lint typecheck pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install
	$(BIN)/mypy

# Two workers: many tests wait on servers, subprocesses and sockets, so two cores run them
# about twice as fast. PYTEST_ARGS="-n 0" runs them in one process.
PYTEST_ARGS ?= -n 2
pytest: install
	$(BIN)/pytest $(PYTEST_ARGS)

## Load and start-up benchmarks (see bench/README.md).
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## The async-app benchmark (bench/bench_async.py) against FastAPI and its add-ons: first
## installs the benchmark-only dependency group "bench", which `make install` and `make test`
## never install (the next full sync, after a pyproject change, removes it again).
## Short run: make bench-async BENCH_ARGS="--duration 2 --rounds 1"
bench-async: install
	$(UV) sync --all-packages --all-extras --group bench --python $(PYTHON)
	$(BIN)/python bench/bench_async.py $(BENCH_ARGS)

clean:
	rm -rf .venv $(TOOLS)

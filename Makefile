# Two commands for a new user: `make demo` runs an example flow end to end, `make test` runs
# the tests. Both create and fill their own virtual environment (.venv) on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-wheel lint system bench clean views

# The JupyterLab extension's sources: when one changes, the next make builds it again.
# (src/widgets/ is built into the notebook widgets' modules, nbflow/widgets/static/*.js.)
LABEXTENSION := $(wildcard labextension/src/*.ts labextension/src/widgets/*.ts labextension/style/* \
	labextension/schema/*.json) \
	labextension/package.json labextension/yarn.lock labextension/tsconfig.json \
	labextension/tsconfig.widgets.json

$(BIN)/nbflow: pyproject.toml $(LABEXTENSION)
	@command -v node > /dev/null || { echo "Building the JupyterLab extension needs node 20 or later (https://nodejs.org)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The editable install's build hook (hatch-jupyter-builder) builds labextension/ into
	# nbflow/labextension when its sources are newer, and installs the server extension's config.
	$(BIN)/python -m pip install --quiet -e ".[test]"
	# JupyterLab in the venv loads the extension from the work tree (a link), so a rebuild
	# (`cd labextension && jlpm build`) shows on the next page load.
	$(BIN)/jupyter-builder develop --overwrite . > /dev/null
	# A kernel spec inside the venv, so notebooks run on this interpreter.
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $@

demo: $(BIN)/nbflow
	$(BIN)/nbflow run notebooks/hearthstone.ipynb

# The tests wait on kernels, servers, browsers and Metaflow's processes more than they compute:
# three workers keep two cores busy (pytest-xdist; a file's tests stay on one worker, so its
# fixtures are shared as they are in one process). `make test PARALLEL=` runs them in one.
# The wheel's tests run in one: they start worker processes (Dask's nannies restarting killed
# workers among them) that are slow to start from a fresh install, and a loaded machine made
# a restart miss its test's window.
PARALLEL ?= -n 3 --dist loadfile

# `system` installs every part the tests drive, so none of them may skip (tests/needs.py).
test: $(BIN)/nbflow lint system
	NBFLOW_REQUIRE_ALL=1 $(BIN)/pytest $(PARALLEL)
	$(MAKE) test-wheel

# What users install: nbflow's wheel (built from its sdist, as a release is), installed
# non-editable in a venv of its own, runs the tests whose outcome depends on where nbflow lives
# (step environments, worker processes, Dask, real kernels, JupyterLab's and Jupyter Server's
# view of its extensions). pytest runs outside the work tree, without PYTHONPATH, so the tree's
# nbflow/ cannot shadow the installed one; tests/conftest.py fails the run if it does.
WHEEL := build/test-wheel
WHEEL_BIN := $(CURDIR)/$(WHEEL)/venv/bin
HEADLESS := tests/kernel/test_headless.py::test
WHEEL_TESTS := tests/magics/test_envs.py tests/kernel/test_shared_envs.py \
	tests/magics/test_processes_flow.py tests/magics/test_dask_flow.py \
	$(HEADLESS)_run_prints_the_run_and_stores_it_with_tags_progress_and_the_notebook \
	$(HEADLESS)_processes_executor_runs_one_flow_with_foreach_tasks_in_workers \
	$(HEADLESS)_a_failing_step_names_itself_and_resume_takes_over_what_finished \
	$(HEADLESS)_batch_runs_every_combination_and_goes_on_after_failures \
	tests/kernel/test_examples.py::test_branches_runs_the_three_branches_and_joins_them \
	tests/export/test_script.py tests/packaging/test_installed.py
test-wheel: $(BIN)/nbflow
	rm -rf $(WHEEL) && mkdir -p $(WHEEL)/run
	$(BIN)/uv build --quiet --out-dir $(WHEEL)/dist .
	$(BIN)/uv venv --quiet --python $(BIN)/python $(WHEEL)/venv
	$(BIN)/uv pip install --quiet --python $(WHEEL_BIN)/python "$$(echo $(WHEEL)/dist/nbflow-*.whl)[test]"
	cd $(WHEEL)/run && env -u PYTHONPATH NBFLOW_REQUIRE_ALL=1 \
	  NBFLOW_EXPECT_INSTALLED=$(CURDIR)/$(WHEEL)/venv PATH=$(WHEEL_BIN):$$PATH \
	  $(WHEEL_BIN)/pytest -c $(CURDIR)/pyproject.toml --rootdir $(CURDIR) -p no:cacheprovider \
	  --durations=5 \
	  $(addprefix $(CURDIR)/,$(WHEEL_TESTS))

# Debian packages the tests drive for real: chromium for the browser tests (the pip `playwright`
# package uses it by its path and never downloads a browser of its own), and PostgreSQL, whose
# initdb/pg_ctl the metadata tests use to start a throwaway server of their own.
DEBIAN := $(if $(shell command -v chromium),,chromium) \
	$(if $(wildcard /usr/lib/postgresql/*/bin/initdb),,postgresql)
system:
	@if [ -n "$(strip $(DEBIAN))" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $(DEBIAN); \
	  else echo "The tests need Debian packages: sudo apt-get install $(strip $(DEBIAN))"; exit 1; fi; fi

lint: $(BIN)/nbflow
	$(BIN)/ruff check nbflow tests bench labextension/scripts
	$(BIN)/ruff format --check nbflow labextension/scripts
	$(BIN)/mypy
	# The layers (docs/architecture.md): imports point one way only.
	$(BIN)/lint-imports
	# The extension's TypeScript: ESLint (labextension/eslint.config.mjs) and Prettier.
	cd labextension && $(CURDIR)/$(BIN)/jlpm lint:check

# labextension/src/views.ts, the TypeScript types of the views, from the TypedDicts of
# nbflow/query/views.py (tests/unit/test_viewtypes.py fails while it is stale); the next make
# builds the extension with it.
views: $(BIN)/nbflow
	$(BIN)/python labextension/scripts/viewtypes.py

bench: $(BIN)/nbflow
	bench/run

clean:
	rm -rf $(VENV) $(WHEEL) notebooks/.nbflow nbflow/labextension labextension/node_modules labextension/lib \
	  labextension/tsconfig.tsbuildinfo

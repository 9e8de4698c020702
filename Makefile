# Two commands for a new user: `make demo` runs an example flow end to end, `make test` runs
# the tests. Both create and fill their own virtual environment (.venv) on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint browser bench clean

$(BIN)/nbflow: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	# A kernel spec inside the venv, so notebooks run on this interpreter.
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $@

demo: $(BIN)/nbflow
	$(BIN)/nbflow run notebooks/quickstart.ipynb

test: $(BIN)/nbflow lint browser
	$(BIN)/pytest

# The browser tests drive Debian's chromium (the pip `playwright` package uses it by its path
# and never downloads a browser of its own).
browser:
	@command -v chromium > /dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "The browser tests need Debian's chromium: sudo apt-get install chromium"; exit 1; fi; }

lint: $(BIN)/nbflow
	$(BIN)/ruff check nbflow tests bench
	$(BIN)/ruff format --check nbflow
	$(BIN)/mypy

bench: $(BIN)/nbflow
	bench/run

clean:
	rm -rf $(VENV) notebooks/.nbflow

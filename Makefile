# The commands of the README. Both run the idempotent setup first.
.PHONY: setup demo test test-flink lint

setup:
	@bash scripts/setup.sh

demo: setup
	@.venv/bin/curate demo

# The suite, less the tests that run on a real Flink engine (minutes each; marker `flink`).
test: setup
	@.venv/bin/python -m pytest -q -m "not flink"

# The Flink tests: every stage on embedded Flink, and a standalone cluster with a TaskManager
# killed mid-job. CI (.ci/run) runs both targets.
test-flink: setup
	@.venv/bin/python -m pytest -q -m flink

lint: setup
	@.venv/bin/ruff check curate tests benchmarks pipelines

# The commands of the README. Both run the idempotent setup first.
.PHONY: setup demo test test-long test-flink lint perf-tables

setup:
	@bash scripts/setup.sh

demo: setup
	@.venv/bin/curate demo

# The suite, less the tests that take a minute or more each (marker `long`: whole-pipeline
# equality across runners and workers, killed runs, the browser report) and those that run on
# a real Flink engine (minutes each; marker `flink`). CI (.ci/run) runs all three targets.
test: setup
	@.venv/bin/python -m pytest -q -m "not flink and not long"

test-long: setup
	@.venv/bin/python -m pytest -q -m "long and not flink"

# The Flink tests: every stage on embedded Flink, and a standalone cluster with a TaskManager
# killed mid-job.
test-flink: setup
	@.venv/bin/python -m pytest -q -m flink

lint: setup
	@.venv/bin/ruff check curate tests benchmarks pipelines

# The README's performance tables, rewritten from the committed results files in
# benchmarks/results/ (benchmarks/perf_tables.py --check only compares; tests/unit runs it).
perf-tables: setup
	@.venv/bin/python benchmarks/perf_tables.py --write

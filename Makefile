# The two commands of the README. Both run the idempotent setup first.
.PHONY: setup demo test lint

setup:
	@bash scripts/setup.sh

demo: setup
	@.venv/bin/curate demo

test: setup
	@.venv/bin/python -m pytest -q

lint: setup
	@.venv/bin/ruff check curate tests benchmarks pipelines

"""benchmarks/perf_tables.py: the README's performance tables are what the committed results
files give, and a made-up results folder renders its own numbers, newest file first."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from curate.config import DedupTextConfig

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("perf_tables", ROOT / "benchmarks" / "perf_tables.py")
perf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(perf)


def test_readme_tables_are_the_results_files():
    diff = perf.check(ROOT / "README.md", ROOT / "benchmarks" / "results")
    assert diff == "", "README.md's performance tables differ from benchmarks/results/; run " \
                       "`python benchmarks/perf_tables.py --write`:\n" + diff


def test_default_shingles_are_dedup_texts_defaults():
    c = DedupTextConfig()
    assert perf.DEFAULT_SHINGLES == f"{c.unit}_{c.ngram}"


def minhash(curate, bulk, date_note=""):
    med = {"curate": curate, "datasketch_bulk": bulk, "datasketch_update_loop": 1}
    return {"command": f"python benchmarks/bench_minhash.py {date_note}", "config": {"num_perm": 126},
            "shingles": {"char_3": {"shingles_per_text": 70.4, "sigs_per_s_median": med}}}


def write(folder: Path, name: str, data: dict):
    (folder / name).write_text(json.dumps(data))


def test_newest_file_by_date_then_name(tmp_path):
    write(tmp_path, "minhash_2026-12-01.json", minhash(30000, 1000, "dec1"))
    write(tmp_path, "minhash_2026-11-30.json", minhash(90000, 1000, "nov30"))  # older, though written later
    write(tmp_path, "minhash_2026-12-01_quiet.json", minhash(45678, 1234, "dec1 quiet"))
    write(tmp_path, "minhash_2025-12-31.json", minhash(1, 1))
    assert perf.newest(tmp_path, "minhash_20??-*.json").name == "minhash_2026-12-01_quiet.json"
    lines, source = perf.minhash_match(tmp_path)
    row = next(x for x in lines if x.startswith("| MinHash, character 3-grams"))
    assert row == ("| MinHash, character 3-grams (the default; 70 shingles/text, 126 perms) | 45,678 signatures/s "
                   "| datasketch `MinHash.bulk` 1,234/s | **37.0x** (target >= 5) |")
    assert "minhash_2026-12-01_quiet.json` (`python benchmarks/bench_minhash.py dec1 quiet`)" in source
    # no match file: a row that says so, and the line under the table names the glob
    assert any(x.startswith("| matching | no results file yet |") for x in lines)
    assert "no results file yet matches `benchmarks/results/match_20??-*.json`" in source


def scale(pairs, rows):
    return {"command": f"benchmarks/bench_scale.py --pairs {pairs}", "results": rows}


def run(runner, pairs, wall, finished=True, **extra):
    roles = {"driver": {"peak_rss_mb_max": 1500}, "sdk worker": {"peak_rss_mb_max": 2500},
             "driver child": {"peak_rss_mb_max": 40}}
    r = {"runner": runner, "parallelism": 2, "pairs": pairs, "wall_s": wall, "finished": finished,
         "memory_by_role": roles, "pairs_per_s": round(pairs / wall) if finished else None}
    r.update(extra)
    return r


def test_runner_table_rows_from_every_scale_file(tmp_path):
    write(tmp_path, "scale_250k_2026-11-30.json", scale(250000, [run("local", 250000, 200.4), run("cluster", 250000, 400.0)]))
    write(tmp_path, "scale_1m_2026-11-30.json", scale(1000000, [
        run("cluster", 1000000, 1234.5, finished=False, note="exit 1: TaskManager lost | heap")]))
    write(tmp_path, "scale_250k_2026-12-02.json", scale(250000, [run("local", 250000, 100.0)]))  # newer: replaces
    lines, source = perf.runners(tmp_path)
    assert lines[2:] == [
        "| 250,000 | local, 2 worker processes | 100 s | 2,500 | driver 1,500 MB, workers 2,500 MB |",
        "| 250,000 | standalone Flink, parallelism 2 | 400 s | 625 | submitting process 1,500 MB, SDK harnesses 2,500 MB |",
        "| 1,000,000 | standalone Flink, parallelism 2 | did not finish (1234 s) | | submitting process 1,500 MB, "
        "SDK harnesses 2,500 MB; exit 1: TaskManager lost \\| heap |",
    ]
    assert [s for s in ("scale_250k_2026-11-30", "scale_1m_2026-11-30", "scale_250k_2026-12-02") if s in source] == [
        "scale_250k_2026-11-30", "scale_1m_2026-11-30", "scale_250k_2026-12-02"]


def test_text_stage_table_none_yet_then_rows(tmp_path):
    write(tmp_path, "text_stage_profile_2026-12-01.json", {"command": "profile"})  # not a text_stage run
    lines, source = perf.text_stage(tmp_path)
    assert lines[2] == "| | | no results file yet | | | | | |"
    assert "no results file yet matches `benchmarks/results/text_stage_*.json`" in source
    d = {"command": "python benchmarks/bench_text_stage.py --pairs 100000 --output x.json", "pairs": 100000,
         "workers": 2, "wall_s": 20.04, "pairs_per_s": 4990.0, "bare_pairs_per_s": 3000.0,
         "peak_rss_mb": {"driver": 900, "largest_worker": 1100}}
    write(tmp_path, "text_stage_2026-12-01.json", d)
    write(tmp_path, "text_stage_1m_2026-12-01.json", {**d, "pairs": 1000000, "wall_s": 150.0, "pairs_per_s": 6666.7})
    lines, source = perf.text_stage(tmp_path)
    assert lines[2:] == [
        "| 100,000 | 2 | 20 s | 4,990 | 2,495 | 3,000 pairs/s | 0.83 | driver 900 MB, largest worker 1,100 MB |",
        "| 1,000,000 | 2 | 150 s | 6,667 | 3,333 | 3,000 pairs/s | 1.11 | driver 900 MB, largest worker 1,100 MB |",
    ]
    assert "text_stage_profile" not in source


def test_profile_groups_kernels_and_keeps_unknown_ones(tmp_path):
    write(tmp_path, "text_stage_profile_2026-12-01.json", {
        "command": "python benchmarks/profile_text_stage.py --pairs 1000", "profiled_s": 20.0,
        "seconds_by_kernel": {"dedup_text: shingling": 1.0, "dedup_text: LSH keys (content words)": 0.5,
                              "dedup_text: candidate verification": 10.0, "dedup_text: a new kernel": 8.5}})
    lines, _ = perf.text_stage_profile(tmp_path)
    assert lines[2:] == [
        "| dedup_text: candidate verification (`BucketEdgesFn`: key shingles recomputed per bucket member, "
        "Jaccard, the content-word rule) | 10.0 | 50.0% |",
        "| dedup_text: a new kernel | 8.5 | 42.5% |",
        "| dedup_text: shingling, LSH keys, band tables | 1.5 | 7.5% |",
    ]


def test_write_then_check(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(ROOT / "benchmarks" / "results", results)
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    assert perf.main(["--check", "--readme", str(readme), "--results", str(results)]) == 0
    write(results, "minhash_2099-01-01.json", minhash(50000, 1000))
    assert perf.main(["--check", "--readme", str(readme), "--results", str(results)]) == 1
    assert "+| MinHash, character 3-grams (the default; 70 shingles/text, 126 perms) | 50,000 signatures/s" in \
        perf.check(readme, results)
    assert perf.main(["--write", "--readme", str(readme), "--results", str(results)]) == 0
    assert perf.main(["--check", "--readme", str(readme), "--results", str(results)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert "| **50.0x** (target >= 5) |" in text and "minhash_2026-11-30.json" not in text.split("perf:minhash-match end")[0].split("perf:minhash-match begin")[1]
    # the prose around the blocks is untouched
    strip = lambda t: perf.BLOCK.sub("", t)  # noqa: E731
    assert strip(text) == strip((ROOT / "README.md").read_text(encoding="utf-8"))


def test_unknown_or_missing_block_is_an_error():
    with pytest.raises(ValueError, match="perf:nope"):
        perf.rewrite("<!-- perf:nope begin -->\n<!-- perf:nope end -->\n")
    with pytest.raises(ValueError, match="no block for"):
        perf.rewrite("no blocks here\n")

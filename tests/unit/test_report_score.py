import pyarrow as pa

from curate.report.score import markdown, score


def test_score_counts_each_defect_by_where_it_ended():
    manifest = pa.table(
        {
            "row": [0, 1, 2, 3, 4],
            "defect": ["none", "none", "dead_link", "dead_link", "exact_duplicate"],
            "expect_stage": [None, None, "download", "download", "ingest"],
        }
    )
    removed = pa.table(
        {
            "source_row": [1, 2, 3, 4, None],
            "stage": ["balance", "download", "filter", "ingest", "ingest"],
            "reason": ["balanced_out", "http_404", "language", "duplicate_pair", "malformed_row"],
        }
    )
    s = score(manifest, removed, kept_rows=1)
    assert s["defects"]["dead_link"] == {
        "rows": 2,
        "removed": 2,
        "at_expected_stage": 1,
        "kept": 0,
        "by_stage": {"download:http_404": 1, "filter:language": 1},
    }
    assert s["defects"]["none"]["kept"] == 1
    # balancing removes clean rows by design: not collateral
    assert s["clean_rows_removed_not_by_design"] == 0
    assert (s["defect_rows"], s["defect_rows_removed"]) == (3, 3)
    md = markdown({"stages": [{"stage": "ingest", "in": 5, "kept": 4, "removed": 1, "removed_by_reason": {"x": 1}}]}, s)
    assert "| dead_link | 2 | 2 | 1 | 0 |" in md

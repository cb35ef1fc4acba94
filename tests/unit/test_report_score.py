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


def test_dedup_bar_scores_image_groups_per_group():
    # rows 0-2: one image three times (row 0 clean, 1 re-posted, 2 re-served); rows 3-4: a
    # clean pair and another clean pair whose caption is a near-duplicate of it (different
    # images: no group); row 5: an exact duplicate removed at ingest; row 6: one image twice.
    manifest = pa.table(
        {
            "row": list(range(9)),
            "defect": ["none", "reposted_pair", "duplicate_image", "none", "none",
                       "exact_duplicate", "none", "duplicate_image", "none"],
            "expect_stage": [None, "dedup_images", "dedup_images", None, None, "ingest", None,
                             "dedup_images", None],
            "image_group": ["i0", "i0", "i0", None, None, None, "i1", "i1", None],
        }
    )
    removed = pa.table(
        {
            # group i0: the clean first row and one copy removed, one copy kept: 2 duplicates
            # removed, no clean loss. Group i1: both removed: one clean row lost. Row 4:
            # removed by dedup_text (a clean loss); row 8 by balancing (not dedup).
            "source_row": [0, 1, 4, 5, 6, 7, 8],
            "stage": ["dedup_images", "dedup_images", "dedup_text", "ingest", "dedup_images", "download", "balance"],
            "reason": ["duplicate_image_exact", "duplicate_image_exact", "text_cluster_cap",
                       "duplicate_pair", "duplicate_image_exact", "http_404", "balanced_out"],
        }
    )
    s = score(manifest, removed)
    d = s["dedup"]
    assert (d["same_image_duplicates"], d["same_image_duplicates_removed"]) == (4, 4)
    # Reaching dedup: row 5 (ingest's duplicate_pair is a dedup stage), group i0's two
    # copies; group i1's copy went at download, so its group had nothing left to dedup.
    assert d["same_image_duplicates_reaching_dedup"] == 3
    assert d["same_image_duplicates_removed_by_dedup"] == 3 and d["dedup_recall"] == 1.0
    assert d["clean_rows"] == 5
    assert d["clean_removed_by_dedup"] == 2
    assert d["clean_removed_by_dedup_stage"] == {"dedup_images:duplicate_image_exact": 1, "dedup_text:text_cluster_cap": 1}
    assert s["clean_rows_removed_by_stage"] == {"balance": 1, "dedup_images": 2, "dedup_text": 1}
    md = markdown({"stages": []}, s)
    assert "| dedup_text | 1 |" in md and "Same-image duplicates" in md

"""Score a run against the sample pool's manifest: for each injected defect, where it ended.

The sample builder records, per pool row, the defect it injected and the first stage that
should remove it. Joining on the pool row (ingest's ``source_row``: the sample is one file)
gives, per defect kind, how many rows were removed, by which stage, and how many at the
expected stage; for clean rows (``none``) the same table shows collateral removals. Balancing
removes clean rows by design, so its removals are reported but not counted as errors.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pyarrow as pa

BY_DESIGN = {("balance", "balanced_out")}


def score(manifest: pa.Table, removed: pa.Table, kept_rows: int | None = None) -> dict:
    """{defect: {rows, removed, at_expected_stage, kept, by_stage}} plus totals."""
    fate: dict[int, tuple[str, str]] = {}
    for row, stage, reason in zip(
        removed["source_row"].to_pylist(),
        removed["stage"].to_pylist(),
        removed["reason"].to_pylist(),
        strict=True,
    ):
        if row is not None:
            fate[row] = (stage, reason)
    out: dict[str, dict] = defaultdict(lambda: {"rows": 0, "removed": 0, "at_expected_stage": 0, "kept": 0, "by_stage": Counter()})
    for row, defect, expect_stage in zip(
        manifest["row"].to_pylist(),
        manifest["defect"].to_pylist(),
        manifest["expect_stage"].to_pylist(),
        strict=True,
    ):
        d = out[defect]
        d["rows"] += 1
        if row in fate:
            stage, reason = fate[row]
            d["removed"] += 1
            d["by_stage"][f"{stage}:{reason}"] += 1
            d["at_expected_stage"] += int(stage == expect_stage)
        else:
            d["kept"] += 1
    result = {k: {**v, "by_stage": dict(sorted(v["by_stage"].items()))} for k, v in sorted(out.items())}
    clean = result.get("none", {"rows": 0, "by_stage": {}})
    collateral = sum(
        n for key, n in clean["by_stage"].items() if tuple(key.split(":", 1)) not in BY_DESIGN
    )
    defects = {k: v for k, v in result.items() if k != "none"}
    return {
        "defects": result,
        "defect_rows": sum(v["rows"] for v in defects.values()),
        "defect_rows_removed": sum(v["removed"] for v in defects.values()),
        "clean_rows": clean["rows"],
        "clean_rows_removed_not_by_design": collateral,
        "kept_rows": kept_rows,
    }


def markdown(stats: dict, scored: dict | None) -> str:
    """The run's funnel, and the defect table when a manifest was given."""
    lines = ["# curate run report", "", "| stage | in | kept | removed | reasons |", "|---|---|---|---|---|"]
    for s in stats["stages"]:
        reasons = ", ".join(f"{k} {v}" for k, v in s["removed_by_reason"].items()) or "-"
        lines.append(f"| {s['stage']} | {s['in']} | {s['kept']} | {s['removed']} | {reasons} |")
    if stats.get("bad_files"):
        lines += ["", "## Bad input files", "", "| file | problem | reason |", "|---|---|---|"]
        for f in stats["bad_files"]:
            lines.append(f"| {f['path']} | {f['problem']} | {f['reason']} |")
    if scored:
        lines += [
            "",
            "## Injected defects (sample manifest)",
            "",
            "| defect | rows | removed | at expected stage | kept | removed by (stage:reason) |",
            "|---|---|---|---|---|---|",
        ]
        for defect, d in scored["defects"].items():
            by = ", ".join(f"{k} {v}" for k, v in d["by_stage"].items()) or "-"
            lines.append(f"| {defect} | {d['rows']} | {d['removed']} | {d['at_expected_stage']} | {d['kept']} | {by} |")
        lines += [
            "",
            f"Defect rows removed: {scored['defect_rows_removed']} of {scored['defect_rows']}. "
            f"Clean rows removed other than by balancing: {scored['clean_rows_removed_not_by_design']} "
            f"of {scored['clean_rows']}.",
        ]
    return "\n".join(lines) + "\n"

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
# Stages and reasons that remove duplicates (issue 14: what a duplicate is, docs/DEDUP.md).
DEDUP_STAGES = ("dedup_text", "dedup_images", "semdedup")
DEDUP_REASONS = {("ingest", "duplicate_pair")}
# Injected (and natural) same-image duplicates: the same pair seen again.
SAME_IMAGE_DEFECTS = ("exact_duplicate", "reposted_pair", "duplicate_image")
BEFORE_DEDUP_IMAGES = ("ingest", "filter", "dedup_text", "balance", "download")


def _is_dedup(stage: str, reason: str) -> bool:
    return stage in DEDUP_STAGES or (stage, reason) in DEDUP_REASONS


def dedup_bar(manifest: pa.Table, fate: dict[int, tuple[str, str]]) -> dict:
    """Clean pairs removed by dedup stages, and same-image duplicates removed.

    Members of one image group (the same image bytes, ``image_group``) are scored per group,
    since which copy a stage keeps is its own rule (largest image, then smallest uid): of a
    group's copies that reached dedup_images, it should remove all but one; what a dedup
    stage removed beyond that is a clean pair lost."""
    rows = manifest.to_pylist()
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r.get("image_group"):
            groups[r["image_group"]].append(r)
    dup_rows = dup_removed = dup_by_dedup = dup_reaching = 0
    clean_rows = 0
    clean_removed: Counter = Counter()
    for r in rows:
        if r.get("image_group"):
            continue
        f = fate.get(r["row"])
        if r["defect"] in SAME_IMAGE_DEFECTS:
            dup_rows += 1
            dup_removed += f is not None
            dup_by_dedup += f is not None and _is_dedup(*f)
            dup_reaching += f is None or _is_dedup(*f)
        elif r["defect"] == "none":
            clean_rows += 1
            if f is not None and _is_dedup(*f):
                clean_removed[f"{f[0]}:{f[1]}"] += 1
    for members in groups.values():
        dups = [m for m in members if m["defect"] != "none"]
        fates = [fate[m["row"]] for m in members if m["row"] in fate]
        by_dedup = [f for f in fates if _is_dedup(*f)]
        before = sum(1 for f in fates if f[0] in BEFORE_DEDUP_IMAGES and not _is_dedup(*f))
        dup_rows += len(dups)
        clean_rows += len(members) - len(dups)
        dup_removed += min(len(fates), len(dups))
        # Copies that reached dedup_images, beyond the one it should keep: what it had to
        # remove. Removing more lost a clean pair; a later stage removing the kept copy
        # (decontaminate, capfilt) is that stage's doing.
        extra = max(0, len(members) - before - 1)
        dup_reaching += min(len(dups), extra)
        dup_by_dedup += min(len(by_dedup), extra, len(dups))
        for f in by_dedup[extra:]:
            clean_removed[f"{f[0]}:{f[1]}"] += 1
    lost = sum(clean_removed.values())
    return {
        "clean_rows": clean_rows,
        "clean_removed_by_dedup": lost,
        "clean_removed_by_dedup_share": round(lost / max(1, clean_rows), 4),
        "clean_removed_by_dedup_stage": dict(sorted(clean_removed.items())),
        "same_image_duplicates": dup_rows,
        "same_image_duplicates_removed": dup_removed,
        "same_image_duplicates_removed_share": round(dup_removed / max(1, dup_rows), 4),
        # Those no other stage removed (filter, balance, download... took the rest), and how
        # many of them a dedup stage removed: the dedup stages' own recall.
        "same_image_duplicates_reaching_dedup": dup_reaching,
        "same_image_duplicates_removed_by_dedup": dup_by_dedup,
        "dedup_recall": round(dup_by_dedup / max(1, dup_reaching), 4),
    }


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
    clean_by_stage: Counter = Counter()
    for key, n in clean["by_stage"].items():
        clean_by_stage[key.split(":", 1)[0]] += n
    return {
        "clean_rows_removed_by_stage": dict(sorted(clean_by_stage.items())),
        "dedup": dedup_bar(manifest, fate),
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
            "",
            "## Clean rows removed per stage",
            "",
            "| stage | clean rows removed | share of clean rows |",
            "|---|---|---|",
        ]
        for stage, n in scored["clean_rows_removed_by_stage"].items():
            lines.append(f"| {stage} | {n} | {n / max(1, scored['clean_rows']):.1%} |")
        d = scored["dedup"]
        lines += [
            "",
            "## Duplicates (the same pair seen again)",
            "",
            f"Clean rows removed by a dedup stage: {d['clean_removed_by_dedup']} of {d['clean_rows']} "
            f"({d['clean_removed_by_dedup_share']:.1%}; "
            + (", ".join(f"{k} {v}" for k, v in d["clean_removed_by_dedup_stage"].items()) or "none")
            + "). Same-image duplicates (exact, re-served, re-posted with an edited caption) removed: "
            f"{d['same_image_duplicates_removed']} of {d['same_image_duplicates']} "
            f"({d['same_image_duplicates_removed_share']:.1%}); of the {d['same_image_duplicates_reaching_dedup']} "
            f"no other stage removed, dedup stages removed {d['same_image_duplicates_removed_by_dedup']} "
            f"({d['dedup_recall']:.1%}). Image groups are scored per group.",
        ]
    return "\n".join(lines) + "\n"

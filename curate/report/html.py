"""The run report as one self-contained HTML file: CSS inline, charts and thumbnails as
base64 data URIs, no script, nothing fetched. Built from a ``gather.RunView``; the
ground-truth table comes from ``score.score`` and the comparison from a `curate compare`
output folder (results.json, plot.png).

The funnel table carries its numbers as data attributes (``data-stage``, ``data-in``,
``data-kept``, ``data-removed``; ``data-reason`` / ``data-count`` per reason) so a test in a
browser can check them against stats.json.
"""

from __future__ import annotations

import base64
import re
from html import escape

import numpy as np

from curate.report import gather, plots
from curate.validate.compare import gap_words

PATH = re.compile(r"(?<![\w.:/-])/(?:[^\s/]+/)+([^\s/]+)")  # an absolute local path
MAX_BYTES = 20_000_000  # the report's size bound (issue 16); gather's caps keep it far below

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#24323f;color:#fff;padding:14px 28px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;color:#cfd8e0;font-size:13px}
nav{padding:8px 28px;background:#e9eef2;font-size:13px;position:sticky;top:0;z-index:1}
nav a{margin-right:14px;color:#24323f}
main{padding:4px 28px 40px;max-width:1400px}
h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:34px}
h3{margin:22px 0 6px;font-size:16px}
.note{color:#666;font-size:13px;margin:4px 0 10px}
table{border-collapse:collapse;font-size:13px;background:#fff}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f5} td.n{text-align:right;font-variant-numeric:tabular-nums}
.reasons span{display:inline-block;margin:1px 6px 1px 0;white-space:nowrap}
.row{display:flex;gap:18px;align-items:flex-start;flex-wrap:wrap}
.grid{display:flex;flex-wrap:wrap;gap:8px}
.card{width:104px;background:#fff;border:1px solid #ddd;border-radius:4px;padding:4px;font-size:11px;overflow-wrap:anywhere}
.card.removed{border-top:4px solid #c0504d} .card.kept{border-top:4px solid #3b8e4a} .card.eval{border-top:4px solid #4a6fa5}
.thumb{width:96px;height:96px;display:flex;align-items:center;justify-content:center;background:#eee;margin:0 auto 4px}
.thumb img{width:96px;height:96px;object-fit:contain}
.noimg{color:#8a6d3b;background:#fcf8e3;font-size:10px;padding:2px 4px;margin-bottom:3px;font-style:italic;border-radius:2px}
.cap{margin:2px 0}.detail{color:#777;font-size:10px;margin-top:2px}
.side{border-left:2px dashed #bbb;padding-left:14px}
.label{font-size:11px;font-weight:600;color:#555;margin-bottom:4px;text-transform:uppercase;letter-spacing:.04em}
.pair{display:flex;gap:6px;align-items:flex-start;background:#fff;border:1px solid #ddd;border-radius:4px;padding:6px;margin:0 10px 10px 0}
.pair .arrow{align-self:center;color:#888;font-size:11px;text-align:center;width:64px}
.chart{max-width:100%;height:auto;background:#fff;border:1px solid #eee}
td.capimg{width:100px} .kept-tag{color:#3b8e4a;font-weight:600} .removed-tag{color:#c0504d;font-weight:600}
"""


def _png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _chart(png: bytes, alt: str) -> str:
    return f'<img class="chart" src="{_png_uri(png)}" alt="{escape(alt)}">'


def _thumb(view: gather.RunView, uid: str) -> str:
    jpeg = view.images.get(uid)
    if jpeg:
        return f'<div class="thumb"><img src="{gather.data_uri(jpeg)}" alt="image of {uid[:8]}"></div>'
    why = view.image_source.get(uid, "no image")
    return f'<div class="noimg">{escape(why)}</div>'


def _short_uids(text: str) -> str:
    """Uids in a detail cut to 8 characters and file paths to their names (the full detail
    is in the card's tooltip)."""
    return PATH.sub(r"\1", gather.UID.sub(lambda m: m[0][:8] + "…", text))


def _card(view: gather.RunView, row: dict, kind: str, detail: bool = True) -> str:
    text = row.get("text")
    caption = escape(text) if text else "<i>(no caption)</i>"
    extra = f'<div class="detail">{escape(_short_uids(row["detail"]))}</div>' if detail and row.get("detail") else ""
    tip = f'uid {row["uid"]}' + (f'; {row["detail"]}' if row.get("detail") else "")
    return (f'<div class="card {kind}" title="{escape(tip)}">{_thumb(view, row["uid"])}'
            f'<div class="cap">{caption}</div>{extra}</div>')


def _funnel(view: gather.RunView) -> str:
    stats = view.stats
    rows = []
    for s in stats["stages"]:
        reasons = "".join(
            f'<span data-reason="{escape(r)}" data-count="{n}">{escape(r)} <b>{n}</b></span>'
            for r, n in sorted(s["removed_by_reason"].items(), key=lambda kv: -kv[1])
        ) or "-"
        rows.append(
            f'<tr class="stage" data-stage="{escape(s["stage"])}" data-in="{s["in"]}" data-kept="{s["kept"]}" '
            f'data-removed="{s["removed"]}"><td>{escape(s["stage"])}</td><td class="n">{s["in"]}</td>'
            f'<td class="n">{s["kept"]}</td><td class="n">{s["removed"]}</td>'
            f'<td class="n">{s["removed"] / max(1, s["in"]):.1%}</td><td class="reasons">{reasons}</td></tr>'
        )
    bad = ""
    if stats.get("bad_files"):
        bad = "<h3>Bad input files</h3><table><tr><th>file</th><th>problem</th><th>reason</th></tr>" + "".join(
            f"<tr><td>{escape(f['path'])}</td><td>{escape(f['problem'])}</td><td>{escape(f['reason'])}</td></tr>"
            for f in stats["bad_files"]
        ) + "</table>"
    return (
        '<section id="funnel"><h2>Funnel</h2>'
        f'<p class="note">{stats["input"]} pairs in, {stats["kept"]} kept, {stats["removed"]} removed. '
        "Every removed pair has a stage and a reason; per stage, in = kept + removed.</p>"
        f'{_chart(plots.funnel(stats), "funnel chart")}'
        '<table id="funnel-table"><tr><th>stage</th><th>in</th><th>kept</th><th>removed</th><th>share</th>'
        f'<th>removed by reason</th></tr>{"".join(rows)}</table>{bad}</section>'
    )


def _examples(view: gather.RunView) -> str:
    parts = ['<section id="examples"><h2>What each reason removed</h2>'
             f'<p class="note">For each reason, up to {gather.EXAMPLES_PER_REASON} removed pairs (a fixed sample chosen '
             "by a hash of the uid, the same on every run), and beside them pairs the run kept, for contrast. Pairs "
             "removed before download have no image: their caption is shown alone. Red top: removed; green top: kept; "
             "hover a card for its uid and the full detail.</p>"]
    for group in view.groups:
        stage, reason = group.split("/", 1)
        rows = view.removed.rows(group)
        if not rows:
            continue
        total = gather._reason_count(view.stats, group)
        kept = "".join(_card(view, r, "kept", detail=False) for r in gather.kept_beside(view, group))
        parts.append(
            f'<h3 id="r-{escape(stage)}-{escape(reason)}">{escape(stage)}: {escape(reason)} '
            f'<span class="note">({len(rows)} of {total} shown)</span></h3>'
            f'<div class="row"><div><div class="label">removed</div><div class="grid">'
            f'{"".join(_card(view, r, "removed") for r in rows)}</div></div>'
            + (f'<div class="side"><div class="label">kept</div><div class="grid">{kept}</div></div>' if kept else "")
            + "</div>"
        )
    if len(parts) == 1:
        parts.append("<p>No pair was removed.</p>")
    return "".join(parts) + "</section>"


def _clusters(view: gather.RunView) -> str:
    if not view.clusters:
        return ""
    parts = ['<section id="duplicates"><h2>Duplicates side by side</h2><p class="note">Each removed duplicate '
             "(left) beside what it duplicates (right): for image duplicates the copy the stage kept (red top when a "
             "later stage removed that one too), for near-duplicate captions the cluster's first pair (smallest uid), "
             "for evaluation overlap the evaluation image (blue top).</p>"]
    for group in sorted(view.clusters):
        stage, reason = group.split("/", 1)
        cells = []
        for row in view.clusters[group]:
            other = view.partner_of.get(row["uid"])
            partner = view.partners.get(other) if other else None
            if partner and partner["where"] == "eval":
                right, label = _card(view, partner, "eval", detail=False), "copy of"
            elif partner:
                tag = "kept" if partner["where"] == "kept" else "removed"
                right = _card(view, partner, tag, detail=tag == "removed")
                label = "duplicate of" if tag == "kept" else "duplicate of (removed later)"
            else:
                right, label = "", ""
            cells.append(f'<div class="pair">{_card(view, row, "removed")}'
                         + (f'<div class="arrow">{label} →</div>{right}' if right else "") + "</div>")
        parts.append(f"<h3>{escape(stage)}: {escape(reason)}</h3><div class=\"grid\">{''.join(cells)}</div>")
    return "".join(parts) + "</section>"


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.4f}"


def _capfilt(view: gather.RunView) -> str:
    rows = [(r, "kept") for r in view.capfilt.rows("kept")] + [(r, "removed") for r in view.capfilt.rows("removed")]
    if not rows:
        return ""
    side = view.capfilt_side or {}
    thr = side.get("threshold")
    body = "".join(
        f'<tr><td class="capimg">{_thumb(view, r["uid"])}</td><td>{escape(r.get("text") or "")}</td>'
        f'<td>{escape(r.get("synthetic_caption") or "-")}</td><td class="n">{_fmt(r.get("clip_score"))}</td>'
        f'<td class="n">{_fmt(r.get("synthetic_score"))}</td><td class="{tag}-tag">{tag}</td></tr>'
        for r, tag in rows
    )
    rule = escape(side.get("rule", ""))
    return (
        '<section id="capfilt"><h2>CapFilt</h2>'
        f'<p class="note">Threshold {_fmt(thr)} ({rule}). A fixed sample of kept and removed pairs. The synthetic '
        "caption is the captioner's (kept pairs only: a removed pair's detail keeps its score, not its text).</p>"
        "<table><tr><th>image</th><th>web caption</th><th>synthetic caption</th><th>web score</th>"
        f"<th>synthetic score</th><th></th></tr>{body}</table></section>"
    )


def _balance(view: gather.RunView) -> str:
    doc = view.balance
    if not doc or not doc.get("counts"):
        return ""
    top = "".join(
        f'<tr><td>{escape(str(e["entry"] if e["entry"] is not None else e["id"]))}</td>'
        f'<td class="n">{e["before"]}</td><td class="n">{e["after"]}</td></tr>'
        for e in doc.get("top_entries", [])[:15]
    )
    return (
        '<section id="balance"><h2>Balancing</h2>'
        f'<p class="note">t = {doc["t"]} ({escape(str(doc.get("t_rule", "")))}): an entry matched by more than t '
        f"pairs keeps about t of them. Matches {doc['matches_before']} → {doc['matches_after']}; tail share "
        f"{doc['tail_share_before']:.1%} → {doc['tail_share_after']:.1%}.</p>"
        f'<div class="row">{_chart(plots.balance(doc), "balancing before and after")}'
        f"<table><tr><th>head entry</th><th>before</th><th>after</th></tr>{top}</table></div></section>"
    )


SCORES = {  # column: (axis label, threshold label, what it means)
    "clip_score": ("CapFilt web-caption score (CLIP cosine)", "threshold",
                   "pairs below the threshold are removed unless their synthetic caption reaches it"),
    "semantic_cosine": ("SemDeDup: max cosine to a cluster member", "1 - eps",
                        "pairs above 1 - eps are semantic duplicates"),
}


def _histograms(view: gather.RunView) -> str:
    parts = []
    edges = np.linspace(*gather.SCORE_RANGE, gather.SCORE_BINS + 1)
    for col, h in sorted(view.histograms.items()):
        if not h.total or col not in SCORES:
            continue
        label, t_label, meaning = SCORES[col]
        png = plots.histogram(h.kept, h.removed, edges, view.thresholds.get(col), label, t_label)
        parts.append(f'<div><h3>{escape(col)}</h3><p class="note">{escape(meaning)}; {h.total} pairs.</p>'
                     f'{_chart(png, col + " histogram")}</div>')
    if not parts:
        return ""
    return f'<section id="scores"><h2>Scores and thresholds</h2><div class="row">{"".join(parts)}</div></section>'


def _ground_truth(scored: dict | None, stats: dict) -> str:
    if not scored:
        return ""
    order = {s["stage"]: i for i, s in enumerate(stats["stages"])}
    columns = sorted({k for d in scored["defects"].values() for k in d["by_stage"]},
                     key=lambda k: (order.get(k.split(":", 1)[0], len(order)), k))
    head = "".join(f"<th>{escape(c.replace(':', ': '))}</th>" for c in columns)
    rows = []
    for defect, d in scored["defects"].items():
        cells = "".join(f'<td class="n">{d["by_stage"].get(c, "") or ""}</td>' for c in columns)
        rows.append(f'<tr data-defect="{escape(defect)}"><td>{escape(defect)}</td><td class="n">{d["rows"]}</td>'
                    f'<td class="n">{d["removed"]}</td><td class="n">{d["at_expected_stage"]}</td>'
                    f'<td class="n">{d["kept"]}</td>{cells}</tr>')
    dd = scored["dedup"]
    return (
        '<section id="ground-truth"><h2>Against the ground truth (sample manifest)</h2>'
        f'<p class="note">Defect rows removed: {scored["defect_rows_removed"]} of {scored["defect_rows"]}. '
        f"Clean rows removed other than by balancing: {scored['clean_rows_removed_not_by_design']} of "
        f"{scored['clean_rows']}. Dedup recall {dd['dedup_recall']:.1%}; clean rows removed by a dedup stage "
        f"{dd['clean_removed_by_dedup']}. Rows: injected defect (none: clean); columns: where it ended "
        "(stage: reason).</p>"
        '<div style="overflow-x:auto"><table id="confusion"><tr><th>defect</th><th>rows</th><th>removed</th>'
        f'<th>at expected stage</th><th>kept</th>{head}</tr>{"".join(rows)}</table></div></section>'
    )


def _compare(compare: dict | None) -> str:
    if not compare:
        return ""
    results, png = compare["results"], compare.get("plot")
    summary = results["summary"]
    arms = [a for a in ("curated", "random", "pool") if a in summary] + [a for a in summary if a not in
                                                                         ("curated", "random", "pool")]
    metrics = sorted({m for a in summary.values() for m in a})
    head = "".join(f"<th>{escape(a)} ({results['sizes'].get(a, '?')} pairs)</th>" for a in arms)
    rows = []
    for m in metrics:
        cells = "".join(
            f'<td class="n">{100 * summary[a][m]["mean"]:.1f} ± {100 * summary[a][m]["std"]:.1f}</td>'
            if m in summary[a] else "<td>-</td>" for a in arms
        )
        g = results.get("curated_vs_random", {}).get(m)
        gap = f'{100 * g["diff"]:+.1f} ({escape(gap_words(g))})' if g else "-"
        rows.append(f"<tr><td>{escape(m)}</td>{cells}<td class=\"n\">{gap}</td></tr>")
    plot = _chart(png, "comparison plot") if png else ""
    return (
        '<section id="compare"><h2>Curated vs random vs pool</h2>'
        f'<p class="note">CLIP models trained from scratch, {results["samples_seen"]} samples seen per run, '
        f"{len(results['runs'])} runs; percent, mean ± std over seeds.</p>"
        f"<table><tr><th>metric</th>{head}<th>curated − random</th></tr>{''.join(rows)}</table>"
        f"<p>{plot}</p></section>"
    )


def render(view: gather.RunView, scored: dict | None = None, compare: dict | None = None) -> str:
    """The report's HTML text."""
    sections = [_funnel(view), _examples(view), _clusters(view), _capfilt(view), _balance(view),
                _histograms(view), _compare(compare), _ground_truth(scored, view.stats)]
    titles = {"funnel": "Funnel", "examples": "Removed examples", "duplicates": "Duplicates", "capfilt": "CapFilt",
              "balance": "Balancing", "scores": "Scores", "compare": "Comparison", "ground-truth": "Ground truth"}
    nav = "".join(f'<a href="#{k}">{v}</a>' for k, v in titles.items()
                  if any(s.startswith(f'<section id="{k}"') for s in sections))
    stats = view.stats
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>curate report: {escape(view.run)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>curate run report</h1><p>{escape(view.run)}: {stats['input']} pairs in, "
        f"{stats['kept']} kept ({stats['kept'] / max(1, stats['input']):.1%}), {stats['removed']} removed over "
        f"{len(stats['stages'])} stages</p></header><nav>{nav}</nav><main>{''.join(sections)}</main></body></html>\n"
    )

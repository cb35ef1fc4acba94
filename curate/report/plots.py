"""The HTML report's charts, drawn with matplotlib (Agg) and returned as PNG bytes.

PNG metadata is fixed (no software version or date), so the same run gives the same bytes.
"""

from __future__ import annotations

import io

import numpy as np

KEPT_COLOUR = "#3b8e4a"
REMOVED_COLOUR = "#c0504d"
DPI = 100


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _png(fig) -> bytes:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def funnel(stats: dict) -> bytes:
    """Left: pairs each stage received, kept (green) and removed (red). Right: the removed
    pairs by stage and reason, largest first."""
    plt = _plt()
    stages = stats["stages"]
    reasons = sorted(((s["stage"], r, n) for s in stages for r, n in s["removed_by_reason"].items() if n),
                     key=lambda x: -x[2])
    height = max(0.42 * len(stages), 0.24 * len(reasons)) + 1.3
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, height), gridspec_kw={"width_ratios": [1.1, 1]})
    y = np.arange(len(stages))[::-1]
    kept = [s["kept"] for s in stages]
    ax.barh(y, kept, color=KEPT_COLOUR, label="kept")
    ax.barh(y, [s["removed"] for s in stages], left=kept, color=REMOVED_COLOUR, label="removed")
    for yi, s in zip(y, stages, strict=True):
        ax.text(s["in"], yi, f" {s['kept']} of {s['in']}", va="center", fontsize=8)
    ax.set_yticks(y, [s["stage"] for s in stages])
    ax.set_xlim(0, max(1, stats["input"]) * 1.3)
    ax.set_xlabel("pairs")
    ax.set_title("pairs in each stage: kept and removed")
    ax.legend(frameon=False, loc="lower right", fontsize=8)
    if reasons:
        yr = np.arange(len(reasons))[::-1]
        bx.barh(yr, [n for *_, n in reasons], color=REMOVED_COLOUR)
        bx.set_yticks(yr, [f"{st}: {r}" for st, r, _ in reasons], fontsize=8)
        for yi, (*_, n) in zip(yr, reasons, strict=True):
            bx.text(n, yi, f" {n}", va="center", fontsize=8)
        bx.set_xlim(0, reasons[0][2] * 1.18)
        bx.set_xlabel("pairs removed")
        bx.set_title("removed, by stage and reason")
    else:
        bx.axis("off")
    fig.tight_layout()
    return _png(fig)


def balance(doc: dict) -> bytes:
    """Each entry's match count before and after balancing, entries ranked by the count
    before, on log-log axes, with t."""
    plt = _plt()
    counts = np.asarray(list(doc["counts"].values()), np.int64).reshape(-1, 2)
    order = np.argsort(-counts[:, 0], kind="stable")  # entries ranked by their count before
    before, after = counts[order, 0], counts[order, 1]
    rank = np.arange(1, len(before) + 1)
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.loglog(rank, before, "o", ms=5, mfc="none", color="#888888", label="before")
    shown = after > 0  # an entry that lost every pair has no place on a log axis
    ax.loglog(rank[shown], after[shown], ".", ms=4, color=KEPT_COLOUR, label="after (same entry)")
    t = doc["t"]
    ax.axhline(t, color=REMOVED_COLOUR, ls="--", lw=1, label=f"t = {t}")
    ax.set_xlabel("entry rank (by matched pairs)")
    ax.set_ylabel("pairs matching the entry")
    ax.set_title(f"Balancing: {doc['entries_matched']} entries, {doc['head_entries']} above t")
    ax.legend(frameon=False)
    return _png(fig)


def histogram(kept: np.ndarray, removed: np.ndarray, edges: np.ndarray, threshold: float | None,
              name: str, threshold_label: str) -> bytes:
    """A score's distribution, kept and removed stacked, with the stage's threshold."""
    plt = _plt()
    nonzero = np.flatnonzero(kept + removed)
    lo, hi = (nonzero[0], nonzero[-1] + 1) if len(nonzero) else (0, len(kept))
    if threshold is not None:
        t_bin = int(np.clip(np.searchsorted(edges, threshold) - 1, 0, len(kept) - 1))
        lo, hi = min(lo, t_bin), max(hi, t_bin + 1)
    # at most ~60 bars: merge fixed bins
    step = max(1, (hi - lo) // 60)
    lo -= lo % step
    idx = np.arange(lo, hi, step)
    k = np.add.reduceat(kept, idx)
    r = np.add.reduceat(removed, idx)
    left = edges[idx]
    width = edges[min(len(edges) - 1, lo + step)] - edges[lo]
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    ax.bar(left, k, width=width, align="edge", color=KEPT_COLOUR, label="kept")
    ax.bar(left, r, width=width, bottom=k, align="edge", color=REMOVED_COLOUR, label="removed")
    if threshold is not None:
        ax.axvline(threshold, color="black", ls="--", lw=1, label=f"{threshold_label} = {threshold:.4g}")
    ax.set_xlabel(name)
    ax.set_ylabel("pairs")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(frameon=False, fontsize=8)
    return _png(fig)

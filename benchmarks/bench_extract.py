"""curate extract against a plain single-process loop with the same libraries, in one run.

Generates WARC and WAT files of --pages pages (each ~--images <img> tags, relative URLs, a
few filtered images, ~3 KB of HTML), then times, on one core:

- parsers: selectolax (Lexbor) and lxml on the same page bodies (parse + find img/base/meta)
- WARC: the bare loop (warcio ArchiveIterator + selectolax + urljoin, pairs into a list)
  against ``curate extract``'s Beam stage (in-process DirectRunner, one worker: reading,
  filters, dedup, Parquet pool, removed records, stats.json)
- WAT: the same with json.loads of the WAT records

The three loops of a format run interleaved, --repeat times; each row reports its best
wall time and its best CPU time (time.process_time: every thread of the process, Beam's
included), since other jobs on a shared machine slow the wall clock most.

Usage: python benchmarks/bench_extract.py --pages 20000 --out benchmarks/results/extract.md
(with --out X.md the same figures also go to X.json, which benchmarks/perf_tables.py reads)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from urllib.parse import urljoin

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

WORDS = "cat dog red blue tree house river small big photo of a the on in with".split()


def _page(rng: random.Random, i: int, images: int) -> str:
    imgs = []
    for j in range(images):
        alt = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8)))
        kind = rng.random()
        if kind < 0.05:
            imgs.append(f'<img src="/px{j}.gif" width="1" height="1" alt="t">')
        elif kind < 0.1:
            imgs.append(f'<img src="/n{j}.jpg">')
        elif kind < 0.2:
            imgs.append(f'<img src="data:image/gif;base64,R0l" data-src="lazy/{i}-{j}.jpg" alt="{alt}">')
        else:
            imgs.append(f'<IMG SRC="img/{i % 500}-{j}.jpg" ALT="{alt} &amp; more">')
    text = " ".join(rng.choice(WORDS) for _ in range(300))
    return (f"<html><head><title>page {i}</title><meta name=description content='x'></head><body>"
            f"<div class=c><p>{text}</p>{''.join(imgs)}</div></body></html>")


def generate(folder: str, pages: int, files: int, images: int):
    from tests.extract.crawlfiles import wat_json, write_warc, write_wat

    rng = random.Random(0)
    per = pages // files
    warcs, wats, bodies = [], [], []
    for f in range(files):
        batch = []
        for i in range(f * per, (f + 1) * per):
            url = f"http://site{i % 97}.example.com/p/{i}.html"
            batch.append((url, _page(rng, i, images)))
        bodies += [h for _, h in batch]
        warcs.append(str(write_warc(os.path.join(folder, f"crawl-{f:03d}.warc.gz"), batch)))
        docs = []
        for url, html in batch:
            from curate.ops.extract import _parse_selectolax

            _, _, imgs = _parse_selectolax(html)
            links = [{"path": "IMG@/src", "url": a.get("data-src") or a.get("src"), **({"alt": a["alt"]} if a.get("alt") is not None else {})} for a in imgs]
            docs.append(wat_json(url, links))
        wats.append(str(write_wat(os.path.join(folder, f"crawl-{f:03d}.wat.gz"), docs)))
    return warcs, wats, bodies


def bare_warc(paths):
    from selectolax.lexbor import LexborHTMLParser
    from warcio.archiveiterator import ArchiveIterator

    pages, pairs = 0, []
    for path in paths:
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f):
                if rec.rec_type != "response":
                    continue
                url = rec.rec_headers.get_header("WARC-Target-URI")
                tree = LexborHTMLParser(rec.content_stream().read().decode("utf-8"))
                pages += 1
                for n in tree.css("img"):
                    a = n.attributes
                    src, alt = a.get("src"), a.get("alt")
                    if src and alt and not src.startswith("data:"):
                        pairs.append((urljoin(url, src), alt))
    return pages, len(pairs)


def bare_wat(paths):
    from warcio.archiveiterator import ArchiveIterator

    pages, pairs = 0, []
    for path in paths:
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f):
                if rec.rec_type != "metadata":
                    continue
                env = json.loads(rec.content_stream().read())["Envelope"]
                url = env["WARC-Header-Metadata"]["WARC-Target-URI"]
                pages += 1
                links = env["Payload-Metadata"]["HTTP-Response-Metadata"]["HTML-Metadata"]["Links"]
                for link in links:
                    if link.get("path") == "IMG@/src" and link.get("alt") and not link["url"].startswith("data:"):
                        pairs.append((urljoin(url, link["url"]), link["alt"]))
    return pages, len(pairs)


def ops_loop(paths):
    from curate.config import ExtractConfig
    from curate.io.crawl import read_records
    from curate.ops.extract import extract_file

    pages = pairs = 0
    for path in paths:
        kept, _, stats = extract_file(read_records(path), path, ExtractConfig())
        pages, pairs = pages + stats["pages"], pairs + kept.num_rows
    return pages, pairs


def beam_stage(paths, out):
    import apache_beam as beam

    from curate.config import ExtractConfig
    from curate.runner import in_process_args, pipeline_options
    from curate.transforms.extract import ExtractToPool

    with beam.Pipeline(options=pipeline_options(in_process_args(1))) as p:
        _ = p | ExtractToPool(paths, out, ExtractConfig())
    stats = json.load(open(os.path.join(out, "stats.json")))
    return stats["stages"][0]["pages"], stats["kept"]


def timed(fn, *a):
    """(wall seconds, result); CPU seconds of the whole process (all its threads: Beam's
    too) in the global CPU."""
    global CPU
    t, c = time.perf_counter(), time.process_time()
    r = fn(*a)
    CPU = time.process_time() - c
    return time.perf_counter() - t, r


CPU = 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=20000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each loop (interleaved); the best is reported")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import apache_beam  # noqa: F401  (imported before any timing: its import takes seconds)

    import curate.io.crawl  # noqa: F401
    import curate.transforms.extract  # noqa: F401
    from curate.ops.extract import _parse_lxml, _parse_selectolax

    tmp = tempfile.mkdtemp(prefix="bench_extract_")
    try:
        warcs, wats, bodies = generate(tmp, args.pages, args.files, args.images)
        size = sum(os.path.getsize(p) for p in warcs) / 1e6
        wsize = sum(os.path.getsize(p) for p in wats) / 1e6
        n = len(bodies)
        rows = []
        figures = {"parse_only_best_of_3": {}, "formats": {}}
        best = {"selectolax": float("inf"), "lxml": float("inf")}
        for _ in range(3):  # interleaved, best of 3: the machine is shared
            for name, fn in (("selectolax", _parse_selectolax), ("lxml", _parse_lxml)):
                t, _ = timed(lambda f=fn: [f(b) for b in bodies])
                best[name] = min(best[name], t)
        for name, t in best.items():
            rows.append(f"| parse only (img/base/meta), {name}, best of 3 | {n} | | {n / t:,.0f} | | | | |")
            figures["parse_only_best_of_3"][name] = {"pages": n, "wall_s": t, "pages_per_s": n / t}
        # The stage's fixed cost (pipeline construction, runner start, shard writing) on a
        # one-page file, measured in the same run, so the per-page ratio can be read without it.
        tiny = os.path.join(tmp, "tiny")
        os.makedirs(tiny)
        tw, tt, _ = generate(tiny, 1, 1, args.images)
        fixed = {}
        for kind, tiny_paths in (("WARC", tw), ("WAT", tt)):
            fixed[kind] = (timed(beam_stage, tiny_paths, os.path.join(tmp, f"tiny-out-{kind}"))[0], CPU)
        for kind, paths, bare in (("WARC", warcs, bare_warc), ("WAT", wats, bare_wat)):
            # interleaved, best of --repeat (wall and CPU each): the machine is shared
            best = {}
            for rep in range(args.repeat):
                for name, fn, extra in (("bare", bare, ()), ("ops", ops_loop, ()),
                                        ("stage", beam_stage, (os.path.join(tmp, f"out-{kind}-{rep}"),))):
                    t, counts = timed(fn, paths, *extra)
                    w, c, _ = best.get(name, (float("inf"), float("inf"), None))
                    best[name] = (min(w, t), min(c, CPU), counts)
            (tb, cb, (pb, qb)), (to, co, (po, qo)), (ts, cs, (ps, qs)) = best["bare"], best["ops"], best["stage"]
            rows.append(f"| {kind}: bare loop (warcio + {'selectolax' if kind == 'WARC' else 'json'}) | {pb} | {qb} | {pb / tb:,.0f} | {qb / tb:,.0f} | | {pb / cb:,.0f} | |")
            rows.append(f"| {kind}: curate.ops.extract.extract_file loop, no Beam, no dedup | {po} | {qo} | {po / to:,.0f} | {qo / to:,.0f} | {tb / to:.2f}x | {po / co:,.0f} | {cb / co:.2f}x |")
            rows.append(f"| {kind}: `curate extract` Beam stage, 1 worker | {ps} | {qs} | {ps / ts:,.0f} | {qs / ts:,.0f} | {tb / ts:.2f}x | {ps / cs:,.0f} | {cb / cs:.2f}x |")
            tv, cv = ts - fixed[kind][0], cs - fixed[kind][1]
            figures["formats"][kind] = {
                loop: {"pages": p, "pairs": q, "wall_s": w, "cpu_s": c, "pages_per_s": p / w, "pairs_per_s": q / w,
                       "pages_per_cpu_s": p / c, **({} if loop == "bare" else {"ratio_vs_bare": tb / w, "ratio_vs_bare_cpu": cb / c})}
                for loop, (p, q, w, c) in (("bare", (pb, qb, tb, cb)), ("ops", (po, qo, to, co)), ("stage", (ps, qs, ts, cs)),
                                           ("stage_less_fixed_cost", (ps, qs, tv, cv)))}
            figures["formats"][kind]["stage_less_fixed_cost"].update(fixed_s=fixed[kind][0], fixed_cpu_s=fixed[kind][1])
            rows.append(f"| {kind}: the same less its fixed cost ({fixed[kind][0]:.1f} s, {fixed[kind][1]:.1f} s CPU on a 1-page file) | {ps} | {qs} | {ps / tv:,.0f} | {qs / tv:,.0f} | {tb / tv:.2f}x | {ps / cv:,.0f} | {cb / cv:.2f}x |")
        lines = [
            f"# bench_extract: {n} pages, {args.files} files, ~{args.images} <img> per page",
            "",
            f"Command: `python benchmarks/bench_extract.py --pages {args.pages} --files {args.files} --images {args.images} --repeat {args.repeat}`",
            f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}; one core used.",
            f"WARC: {size:.1f} MB gzipped, WAT: {wsize:.1f} MB gzipped.",
            "",
            "| what | pages | pairs | pages/s | pairs/s | / bare loop | pages per CPU-s | / bare loop, CPU |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "pairs: the bare loops keep every img with src and alt (no dedup, no pixel/noai filters);",
            "the stage's pairs are after its filters and exact dedup (images repeat across pages).",
            "pages/s: wall clock; pages per CPU-s: the process's CPU time (all threads, Beam's too),",
            "which the other jobs on a shared machine disturb less. Each the best of --repeat runs,",
            "interleaved. Ratios: the bare loop's time over the row's.",
            f"Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.",
        ]
        text = "\n".join(lines) + "\n"
        print(text)
        if args.out:
            open(args.out, "w").write(text)
            figures = {"command": "python benchmarks/bench_extract.py " + " ".join(sys.argv[1:]),
                       "date": str(datetime.date.today()),
                       "machine": {"cpus": os.cpu_count(), "load_avg_1m_at_end": round(os.getloadavg()[0], 1)},
                       "pages": args.pages, "files": args.files, "images": args.images, "repeat": args.repeat,
                       "warc_mb_gz": round(size, 1), "wat_mb_gz": round(wsize, 1), **figures}
            path = os.path.splitext(args.out)[0] + ".json"
            with open(path if path != args.out else args.out + ".json", "w") as f:
                f.write(json.dumps(figures, indent=1) + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

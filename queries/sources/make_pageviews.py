"""Writes the hand-written page-view files of the sample list (deterministic gzip, mtime 0).

Format: Wikimedia's hourly pageviews-YYYYMMDD-HH0000.gz, lines
`domain_code page_title count_views total_response_size`. The rows exercise every rule:
hourly rows under 50 views ignored, sums over hours and days, other projects (en.m, de,
en.b) ignored, titles with ":" dropped, "_" -> " ", malformed lines skipped with a reason.
Run: python queries/sources/make_pageviews.py
"""

import gzip
from pathlib import Path

FILES = {
    "pageviews-20240101-120000.gz": [
        "en Anarchism 120 0",
        "en Autism 60 0",
        "en Albedo 49 0",                      # under 50 in this hour: not counted
        "en Abraham_Lincoln 500 0",
        "en Aristotle 75 0",
        "en An_American_in_Paris 40 0",        # never reaches 50 in an hour
        "en Alabama 65 0",
        "en Special:Search 9000 0",            # ":" title dropped
        "en File:Example.jpg 300 0",           # ":" title dropped
        "en.m Achilles 400 0",                 # mobile site: another domain code
        "de Anarchismus 700 0",                # another project
        "en.b Algebra 90 0",                   # Wikibooks
        "en Ayn_Rand 55 0",
        "en Alain_Connes 30 0",
        "en Algeria 52 0",
        "en Apollo_11 210 0",
        "en Main_Page 150000 0",
        "en Academy_Awards 51 0",
        "en broken_line_without_fields",       # malformed: field count
        "en Andorra many 0",                   # malformed: bad count
    ],
    "pageviews-20240101-130000.gz": [
        "en Autism 58 0",
        "en Albedo 49 0",
        "en Alabama 12 0",                     # under 50: Alabama stays at 65
        "en Animal_Farm 69 0",                 # 69 < 70 on its own
        "en Algeria 52 0",                     # 52 + 52 = 104
        "en Academy_Awards 18 0",
        "en Ayn_Rand 50 0",                    # exactly 50 counts: 105
        "en Aldous_Huxley 71 0",
        "en -5 0",                             # malformed: field count
    ],
    "pageviews-20240102-090000.gz": [
        "en Animal_Farm 50 0",                 # 69 + 50 = 119 over two days
        "en Alain_Connes 80 0",
        "en Academy_Awards 30 0",              # 51 in total: under 70
        "en Algae 120 0",
        "en Alchemy 70 0",
        "en Astronaut 90 0",
        "en Talk:Astronaut 90 0",              # ":" title dropped
        "en.m Astronaut 5000 0",
        "en Apollo_11 -3 0",                   # malformed: bad count
    ],
}

if __name__ == "__main__":
    here = Path(__file__).parent / "pageviews"
    here.mkdir(exist_ok=True)
    for name, lines in FILES.items():
        data = "".join(line.split("#")[0].rstrip() + "\n" for line in lines).encode()
        (here / name).write_bytes(gzip.compress(data, mtime=0))

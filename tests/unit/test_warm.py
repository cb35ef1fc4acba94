"""curate.ops.warm reaches every compiled kernel the text stage calls: in a fresh process,
after it has run, the filter's word counts and language id and dedup_text's own steps (signing, then
verification of every partition) on captions of every shape neither compile nor load a
kernel signature more, so setup leaves nothing for a worker's first batch to compile."""

from __future__ import annotations

import json
import subprocess
import sys

CHECK = r"""
import collections, json
import pyarrow as pa
from numba.core import dispatcher, sigutils
from curate.config import DedupTextConfig
from curate.ops import warm
from curate.transforms.dedup_text import BucketEdgesFn, SignBatchFn

warm.warm()
compiled = []  # kernels (and signatures) the stage needed after warm(): compiled or loaded from the cache
numba_compile = dispatcher.Dispatcher.compile

def compile(self, sig):
    if self.overloads.get(tuple(sigutils.normalize_signature(sig)[0])) is None:
        compiled.append(f"{self.py_func.__name__}{sig}")
    return numba_compile(self, sig)

dispatcher.Dispatcher.compile = compile
texts = ["a red car parked on the street", "a red car parked on a street", "Red car, parked on the street!",
         "the cat sat on the mat | photo by a friend", "the cat sat on the mat | photo by a neighbour",
         "café au lait in a blue cup", "café au lait in a blue cup!", "of the and", "the and of", "", None,
         " ".join(f"word{k}" for k in range(80)), " ".join(f"word{k}" for k in range(81))] * 3
table = pa.table({"uid": [f"{k:032x}" for k in range(len(texts))], "text": texts})
from curate.ops import text_filter
text_filter.word_counts(table["text"])
text_filter.FastTextLanguageId().classify_array(table["text"])
edges = 0
for c in (DedupTextConfig(), DedupTextConfig(ngram=1, unit="word")):
    sign, verify = SignBatchFn(c), BucketEdgesFn(c)
    sign.setup()
    verify.setup()
    parts = collections.defaultdict(list)
    for part, piece in sign.pieces(table, 2):
        parts[part].append(piece)
    for part in sorted(parts):
        edges += len(list(verify.process((part, parts[part]))))
print(json.dumps({"compiled": compiled, "edges": edges}))
"""


def test_warm_compiles_every_kernel_the_stage_calls():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True).stdout
    found = json.loads(out.strip().splitlines()[-1])
    assert found["edges"] > 0  # verification ran and found the near-duplicates
    assert found["compiled"] == [], f"compiled after curate.ops.warm: {found['compiled']}"


CACHED = r"""
import json
from numba.core import event
from curate.ops import warm

compiled = []

class Record(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__qualname__)

    def on_end(self, ev):
        pass

event.register("numba:compile", Record())
warm.warm()
print(json.dumps(compiled))
"""


def test_a_second_process_loads_every_kernel_from_the_cache():
    """numba's on-disk cache serves every kernel to the next process: one that misses it (a
    kernel calling compiled helpers held in a closure did, in every process) compiles in each
    worker again. The first run fills the cache; the second must compile nothing."""
    subprocess.run([sys.executable, "-m", "curate.ops.warm"], capture_output=True, text=True, check=True)
    out = subprocess.run([sys.executable, "-c", CACHED], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []

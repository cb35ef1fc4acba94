"""``ConnectedComponents``: edges → (node, component id) inside the pipeline.

See ``curate.ops.components``: unrolled Large-Star / Small-Star rounds (one GroupByKey each,
a worker only ever holds one node's neighbourhood), then provisional labels, and an exact
finish by union-find over the residual edges between labels (empty once the rounds have
converged; its size is the ``residual_edges`` counter).
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from curate.ops import components as ops


def _both_directions(edge):
    u, v = edge
    if u != v:
        yield u, v
        yield v, u


def _smaller_first(edge):
    u, v = edge
    if u != v:
        yield (u, v) if u > v else (v, u)


def _large_star(item):
    node, nbrs = item
    return ops.large_star(node, nbrs)


def _small_star(item):
    node, smaller = item
    return ops.small_star(node, smaller)


def _tell_neighbours(item):
    node, nbrs = item
    nbrs = list(nbrs)
    label = ops.provisional_label(node, nbrs)
    yield node, (True, label)
    for v in set(nbrs):
        yield v, (False, label)


class _LabelFn(beam.DoFn):
    RESIDUAL = "residual"

    def __init__(self, namespace: str):
        self.namespace = namespace

    def setup(self):
        self.residual = Metrics.counter(self.namespace, "residual_edges")

    def process(self, item):
        node, told = item
        own = next(label for is_self, label in told if is_self)
        yield node, own
        for other in {label for is_self, label in told if not is_self and label != own}:
            self.residual.inc()
            yield beam.pvalue.TaggedOutput(self.RESIDUAL, (own, other) if own < other else (other, own))


def _finish(item, roots):
    node, label = item
    return node, roots.get(label, label)


class ConnectedComponents(beam.PTransform):
    """In: PCollection of edges (u, v) between ordered node ids. Out: (node, component id)
    for every node on an edge; the component id is the component's smallest node."""

    def __init__(self, rounds: int = 4, namespace: str = "components"):
        super().__init__()
        self.rounds = rounds
        self.namespace = namespace

    def expand(self, edges):
        for r in range(self.rounds):
            edges = (
                edges
                | f"LargeStarKeys{r}" >> beam.FlatMap(_both_directions)
                | f"LargeStarGroup{r}" >> beam.GroupByKey()
                | f"LargeStar{r}" >> beam.FlatMap(_large_star)
                | f"SmallStarKeys{r}" >> beam.FlatMap(_smaller_first)
                | f"SmallStarGroup{r}" >> beam.GroupByKey()
                | f"SmallStar{r}" >> beam.FlatMap(_small_star)
            )
        labelled = (
            edges
            | "AdjacencyKeys" >> beam.FlatMap(_both_directions)
            | "Adjacency" >> beam.GroupByKey()
            | "TellNeighbours" >> beam.FlatMap(_tell_neighbours)
            | "GroupLabels" >> beam.GroupByKey()
            | "Label" >> beam.ParDo(_LabelFn(self.namespace)).with_outputs(
                _LabelFn.RESIDUAL, main="labels"
            )
        )
        # Each node reports every neighbouring label that differs from its own, so one label
        # pair arrives from many nodes: only distinct pairs go to the single union-find.
        roots = (
            labelled.residual
            | "DistinctResidual" >> beam.Distinct()
            | "ResidualList" >> beam.combiners.ToList()
            | "UnionFind" >> beam.Map(ops.union_find)
        )
        return labelled.labels | "Finish" >> beam.Map(_finish, beam.pvalue.AsSingleton(roots))

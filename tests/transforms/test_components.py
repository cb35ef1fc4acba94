"""ConnectedComponents in a pipeline equals union-find, also when the unrolled rounds are too
few to converge (long chains): then the residual edges between provisional labels carry the
rest, and the exact finish over them must give the same components."""

import random

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from curate.ops.components import union_find
from curate.transforms.components import ConnectedComponents


def _graph(seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    ids = [f"{rng.getrandbits(64):016x}" for _ in range(400)]
    # a 150-node chain in random id order (slow to converge), a 60-node star, random pairs
    chain = ids[:150]
    edges = list(zip(chain, chain[1:], strict=False))
    edges += [(ids[150], v) for v in ids[151:210]]
    edges += [tuple(rng.sample(ids[210:], 2)) for _ in range(120)]
    return [(min(e), max(e)) for e in edges]


@pytest.mark.parametrize("rounds", [1, 2, 4])
def test_components_equal_union_find_whatever_the_rounds(rounds):
    edges = _graph(rounds)
    expected = union_find(edges)
    assert max(list(expected.values()).count(r) for r in set(expected.values())) >= 150
    with beam.Pipeline("DirectRunner") as p:
        labels = p | beam.Create(edges) | ConnectedComponents(rounds=rounds)
        assert_that(labels, equal_to(sorted(expected.items())))


def test_one_round_leaves_a_residual_the_finish_resolves():
    """The case the exact finish exists for: after one round the chain is not a star yet."""
    from apache_beam.metrics import MetricsFilter

    edges = _graph(7)
    p = beam.Pipeline("DirectRunner")
    labels = p | beam.Create(edges) | ConnectedComponents(rounds=1, namespace="cc_test")
    assert_that(labels, equal_to(sorted(union_find(edges).items())))
    result = p.run()
    result.wait_until_finish()
    (counter,) = result.metrics().query(MetricsFilter().with_name("residual_edges"))["counters"]
    assert counter.committed > 0

"""Connected components of a duplicate graph, the distributed way and the obvious way.

The pipeline computes components with the Large-Star / Small-Star rounds of Kiveris et al.,
"Connected Components in MapReduce and Beyond" (SoCC 2014): each round is one group-by over
edges, no worker ever holds more than one node's neighbourhood, and the graph converges to
stars around each component's smallest node in O(log^2 n) rounds. Beam graphs are static, so
a fixed number of rounds is unrolled; whatever has not converged by then (normally nothing)
is finished exactly by ``union_find`` over the *residual* edges between provisional labels,
a tiny set. Nodes are any totally ordered ids; the component's id is its smallest node, so
callers choose ids whose order is their keep rule.
"""

from __future__ import annotations

from collections.abc import Iterable


def large_star(node, neighbours: Iterable):
    """One node's Large-Star step: link every strictly larger neighbour to the smallest node
    of the closed neighbourhood. Yields edges (v, m)."""
    nbrs = set(neighbours)
    m = min(nbrs | {node})
    for v in nbrs:
        if v > node:
            yield v, m


def small_star(node, smaller: Iterable):
    """One node's Small-Star step (its neighbours that are <= node): link the node and those
    neighbours to their smallest. Yields edges (v, m), v != m."""
    group = set(smaller) | {node}
    m = min(group)
    for v in group:
        if v != m:
            yield v, m


def provisional_label(node, neighbours: Iterable):
    """The smallest node of the closed neighbourhood: the component id once converged."""
    return min(set(neighbours) | {node})


def union_find(edges: Iterable[tuple]) -> dict:
    """{node: smallest node of its component} for every node in `edges` (reference and the
    exact finish of the distributed rounds)."""
    parent: dict = {}

    def find(x):
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            parent[rb] = ra
    return {x: find(x) for x in list(parent)}


def components_reference(edges: Iterable[tuple]) -> dict:
    """Same result as the distributed rounds, computed in one process (for tests)."""
    return union_find(edges)

"""The sample web pool: real images and alt-texts from installed sources, with the failures
of real pools injected on purpose, served over HTTP on 127.0.0.1.

``build_sample`` (``curate sample``) writes the pool, its images and a ground-truth
manifest; ``SampleServer`` (``curate serve``) serves the images with dead links, slow,
truncated, corrupt, non-image, redirecting and opted-out responses.
"""

from curate.sample.build import DEFAULT_SIZE, DEFECTS, build_sample
from curate.sample.server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_SLOW_SECONDS,
    REFUSED_PORT,
    SampleServer,
)

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_SIZE",
    "DEFAULT_SLOW_SECONDS",
    "DEFECTS",
    "REFUSED_PORT",
    "SampleServer",
    "build_sample",
]

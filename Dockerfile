# The Beam Python SDK container with curate installed: the EXTERNAL worker pool of
# docker-compose.yml (`--worker_pool`), a custom Dataflow worker image
# (--sdk_container_image), and the `curate` CLI (entrypoint curate).
# The text stage's numba kernels are compiled into the image (curate.ops.warm), not by
# each worker's first batch.
# The SDK image's Python and Beam version must match the submitting client's (3.11, 2.77.0).
FROM apache/beam_python3.11_sdk:2.77.0

ENV NO_ALBUMENTATIONS_UPDATE=1 PIP_NO_CACHE_DIR=1
WORKDIR /opt/curate
COPY pyproject.toml README.md ./
COPY curate ./curate
RUN pip install . && python -c "import curate.pipeline" && python -m curate.ops.warm

# The SDK image's entrypoint (/opt/apache/beam/boot) stays: `--worker_pool` starts the pool.

"""Start a Python SDK harness for a Beam runner's PROCESS environment, without a container.

Beam's PROCESS environment has the runner (here: each Flink TaskManager) start one process
per SDK worker with ``<command> --id=<worker id> --provision_endpoint=<host:port>
--semi_persist_dir=<dir>``. In Beam's containers ``<command>`` is the Go ``boot`` program: it
asks the provision service for the job's pipeline options and the control and logging
endpoints, then starts ``sdk_worker_main`` with them in its environment. This module does the
same in Python, for a machine where curate is installed (the cluster's hosts):

    python -m curate.sdk_boot --id=1-1 --provision_endpoint=localhost:41234 --semi_persist_dir=/tmp

``scripts/flink_cluster.sh`` writes a wrapper that runs it with the project's interpreter and
passes ``--environment_type=PROCESS --environment_config={"command": "<wrapper>"}``.

Compared with an EXTERNAL worker pool (one long-lived service that every TaskManager asks for
harnesses), each harness here is a child of the TaskManager that runs its tasks: it lives and
dies with that TaskManager's environment for the job, a restarted job gets new processes with
no state shared with the failed attempt, and the TaskManager keeps waiting for a harness that
is still starting (slow imports on a loaded host) instead of giving up after a fixed timeout.
Staged artifacts are not fetched: the harness imports what the host's environment has
installed, as the worker pool did.
"""

from __future__ import annotations

import argparse
import os
import sys


def harness_environment(info, worker_id: str, semi_persist_dir: str) -> dict[str, str]:
    """The variables ``sdk_worker_main`` reads, from a ``ProvisionInfo`` message."""
    from google.protobuf import json_format, text_format

    env = {
        "WORKER_ID": worker_id,
        "PIPELINE_OPTIONS": json_format.MessageToJson(info.pipeline_options),
        "SEMI_PERSISTENT_DIRECTORY": semi_persist_dir,
        "CONTROL_API_SERVICE_DESCRIPTOR": text_format.MessageToString(info.control_endpoint),
        "LOGGING_API_SERVICE_DESCRIPTOR": text_format.MessageToString(info.logging_endpoint),
        "RUNNER_CAPABILITIES": " ".join(info.runner_capabilities),
    }
    if info.HasField("status_endpoint"):
        env["STATUS_API_SERVICE_DESCRIPTOR"] = text_format.MessageToString(info.status_endpoint)
    return env


def provision_info(endpoint: str, worker_id: str, timeout: float = 60.0):
    import grpc
    from apache_beam.portability.api import beam_provision_api_pb2, beam_provision_api_pb2_grpc

    with grpc.insecure_channel(endpoint) as channel:
        stub = beam_provision_api_pb2_grpc.ProvisionServiceStub(channel)
        response = stub.GetProvisionInfo(beam_provision_api_pb2.GetProvisionInfoRequest(),
                                         metadata=[("worker_id", worker_id)], timeout=timeout)
    return response.info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m curate.sdk_boot",
        description="Start a Beam Python SDK harness for a runner's PROCESS environment "
                    "(what Beam's container boot program does, without a container).")
    parser.add_argument("--id", required=True, help="worker id the runner assigned")
    parser.add_argument("--provision_endpoint", required=True, help="host:port of the provision service")
    parser.add_argument("--semi_persist_dir", default="/tmp", help="scratch folder for the harness")
    # Anything else (Beam may add endpoints in later versions; the wrapper adds a marker that
    # names the cluster's run folder) is ignored: the provision service is authoritative.
    args, _ = parser.parse_known_args(argv)
    info = provision_info(args.provision_endpoint, args.id)
    env = {**os.environ, **harness_environment(info, args.id, args.semi_persist_dir)}
    # exec: the TaskManager's handle on this process is then the harness itself, so stopping
    # the environment stops the harness.
    os.execve(sys.executable, [sys.executable, "-m", "apache_beam.runners.worker.sdk_worker_main",
                               *sys.argv[1:]], env)


if __name__ == "__main__":
    main()

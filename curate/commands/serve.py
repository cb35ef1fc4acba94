"""`curate serve`: serve a built sample pool's images on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import argparse

HELP = "serve a sample pool's images (with its failure routes) on 127.0.0.1"
DESCRIPTION = """Serve <root>/images on a loopback address with the routes the sample pool's URLs use:
/img/, /dead/ (404), /slow/, /truncated/, /corrupt/, /html/, /redirect/, /redirect-chain/N/,
/noai/ (X-Robots-Tag: noai). Runs until Ctrl-C or SIGTERM. Without --port, the port recorded in
<root>/manifest.json is used (the one the pool's URLs name)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", default="data/sample", help="folder built by `curate sample` (default: data/sample)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: the manifest's, else 8765)")
    parser.add_argument("--slow-seconds", type=float, default=None, help="how long /slow/ responses wait (default: 10)")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(args, beam_args) -> int:
    import json
    import signal
    from pathlib import Path

    from curate.sample.server import DEFAULT_PORT, DEFAULT_SLOW_SECONDS, SampleServer

    manifest = Path(args.root) / "manifest.json"
    recorded = json.loads(manifest.read_text()) if manifest.is_file() else {}
    port = args.port if args.port is not None else recorded.get("port", DEFAULT_PORT)
    slow = args.slow_seconds if args.slow_seconds is not None else DEFAULT_SLOW_SECONDS
    server = SampleServer(args.root, host=args.host, port=port, slow_seconds=slow).bind()
    # SIGTERM (kill, docker stop, a CI runner) stops it like Ctrl-C; a process started in the
    # background by a non-interactive shell has SIGINT ignored and can only be stopped so.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        print(f"serving {args.root}/images at {server.base_url}/ (Ctrl-C to stop)", flush=True)
        server.serve_forever()  # returns on Ctrl-C; requests wait in the socket's backlog until then
    except KeyboardInterrupt:  # Ctrl-C before the loop began
        server.stop()
    return 0

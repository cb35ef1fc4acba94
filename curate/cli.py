"""`curate`: one entry point with a subcommand per stage, plus run, sample, serve, demo...

``main(argv) -> int`` is callable from tests. Flags that a subcommand does not know are
Beam pipeline options and pass through untouched (``--runner=FlinkRunner``,
``--flink_master=...``, ``--direct_num_workers=4``, ``--project=...``).

Subcommands live in ``curate.commands.<module>``; each module has ``HELP`` (one line),
``DESCRIPTION`` (optional), ``add_arguments(parser)`` and ``main(args, beam_args) -> int``,
and imports heavy libraries inside ``main`` so ``curate --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback

from curate.errors import CurateError, find_user_error

# Subcommand -> module in curate.commands, in the order `curate --help` lists them.
COMMANDS: dict[str, str] = {
    "demo": "demo",
    "run": "run",
    "report": "report",
    "queries": "queries",
    "sample": "sample",
    "extract": "extract",
    "serve": "serve",
    "ingest": "stage",
    "filter": "stage",
    "dedup-text": "stage",
    "balance": "stage",
    "download": "stage",
    "dedup-images": "stage",
    "embed": "stage",
    "decontaminate": "stage",
    "semdedup": "stage",
    "capfilt": "stage",
    "retrieve": "stage",
    "balance-clusters": "stage",
    "export": "export",
    "train": "train",
    "eval": "eval",
    "compare": "compare",
    "train-filter": "train_filter",
}


# Expected failures, printed on one line: bad values (config validation raises ValueError
# naming the field), files that are missing or unreadable. Anything else is a bug and keeps
# its traceback, unless a user error is found inside it (a worker's, wrapped by Beam).
USER_ERRORS = (CurateError, ValueError, OSError)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser. Every subcommand is listed with its one-line help, but only `command`'s
    own arguments are added (None: every command's): a command's arguments may import what
    the command needs (Beam, torch), which `curate --help` and the other commands must not
    pay for."""
    parser = argparse.ArgumentParser(
        prog="curate",
        description=(
            "Curate a web pool of (image URL, alt-text) pairs into a CLIP training set. "
            "Every stage is an Apache Beam transform: flags not listed here are Beam "
            "pipeline options (e.g. --runner=FlinkRunner --flink_master=host:8081); "
            "without --runner the local FnApiRunner is used."
        ),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log Beam's and the libraries' INFO messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"curate.commands.{module_name}")
        help_text = module.help_for(name) if hasattr(module, "help_for") else module.HELP
        description = (
            module.description_for(name)
            if hasattr(module, "description_for")
            else getattr(module, "DESCRIPTION", help_text)
        )
        p = sub.add_parser(
            name,
            help=help_text,
            description=description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if command is None or command == name:
            if hasattr(module, "add_arguments_for"):
                module.add_arguments_for(name, p)
            else:
                module.add_arguments(p)
        p.set_defaults(_module=module, _name=name)
    return parser


def _command(argv: list[str]) -> str | None:
    """The subcommand named in `argv` (the first word after the top-level flags), if any."""
    for a in argv:
        if not a.startswith("-"):
            return a if a in COMMANDS else None
    return None


# Logged by Beam on import wherever the optional GCP client is missing, and by open_clip for
# every model trained from scratch (train, train-filter, compare, the demo): noise for a user.
_IMPORT_NOISE = ("apitools not found", "No pretrained weights loaded for model")


def _configure_logging(verbose: bool) -> None:
    """Before anything imports Beam (whose import logs through the root logger, which would
    otherwise configure it first and make -v a no-op)."""
    root = logging.getLogger()
    if root.handlers:
        return  # configured by the caller (a test harness, an embedding program)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # The local runner's worker processes configure their own logging (INFO) from the
        # pipeline options in this variable, which they inherit: WARNING and above there too.
        os.environ.setdefault("PIPELINE_OPTIONS", '{"default_sdk_harness_log_level": "WARNING"}')
        for handler in root.handlers:
            handler.addFilter(lambda r: not r.getMessage().startswith(_IMPORT_NOISE))
        # A failing bundle is logged with its traceback by the runner in this process, and
        # relayed again from workers; without -v it reaches the user once, as the error line
        # (a bug: as the traceback of the exception the runner raises). The local runner's
        # worker processes write their own logs to the shared stderr: out of our hands.
        logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.CRITICAL)
        logging.getLogger("apache_beam.runners.common").setLevel(logging.CRITICAL)


def _verbose_flag(argv: list[str]) -> bool:
    """-v/--verbose before the command (where the parser takes it), read before parsing."""
    for a in argv:
        if a in ("-v", "--verbose"):
            return True
        if not a.startswith("-"):
            return False
    return False


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _configure_logging(_verbose_flag(argv))
    parser = build_parser(_command(argv) or "")
    args, beam_args = parser.parse_known_args(argv)
    stray = [a for a in beam_args if not a.startswith("-")]
    if stray and not getattr(args._module, "ACCEPTS_POSITIONAL", False):
        parser.error(f"unexpected arguments {stray} (Beam options start with --)")
    from curate.progress import ProgressLine

    try:
        with ProgressLine():  # a live line while long local stages and training run
            if hasattr(args._module, "main_for"):
                return int(args._module.main_for(args._name, args, beam_args) or 0)
            return int(args._module.main(args, beam_args) or 0)
    except Exception as e:  # noqa: BLE001  (sorted into user errors and bugs below)
        message = _user_message(e)
        if message is None:
            raise
        if args.verbose:
            traceback.print_exc()
        print(f"curate {args._name}: error: {message}", file=sys.stderr)
        return 2


def _user_message(e: Exception) -> str | None:
    """The one-line message of an expected failure; None for a bug."""
    found = find_user_error(e)
    if found is not None:
        return found
    if isinstance(e, USER_ERRORS) or _is_yaml_error(e):
        return " ".join(str(e).split())
    return None


def _is_yaml_error(e: Exception) -> bool:
    yaml = sys.modules.get("yaml")
    return yaml is not None and isinstance(e, yaml.YAMLError)


def run() -> None:
    sys.exit(main())

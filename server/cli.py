"""`storyteller`: one command, with subcommands registered by each package.

Packages add their subcommands through the "storyteller.cli" entry-point group (see
pyproject.toml), so this module never imports export/ or its torch dependency unless the
user runs an export subcommand.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from server.config import ConfigError, Settings, load_settings
from server.sampling_flags import add_sampling_flags, given_sampling

log = logging.getLogger("storyteller.cli")

DESCRIPTION = """\
Storyteller: a gRPC backend that tells coherent stories. It serves ONNX emotion and
generation models to game clients and keeps every story on track with a plot graph.
Run `storyteller COMMAND --help` for each command."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="storyteller", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for entry in sorted(entry_points(group="storyteller.cli"), key=lambda e: e.name):
        entry.load()(commands)
    return parser


BROKEN_PIPE_STATUS = 128 + signal.SIGPIPE
"""Exit status when the reader of stdout went away (`storyteller graph simulate F | head`): that of a
process SIGPIPE ended, as other command-line tools in a pipeline end."""


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # Python flushes stdout again at exit; pointed at /dev/null, that flush cannot fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE_STATUS


# ------------------------------------------------------------------ serve

SERVE_EPILOG = """\
configuration, later sources win:
  1. defaults (models: the bundles in samples/models/)
  2. a TOML file: --config FILE or $STORYTELLER_CONFIG (see samples/storyteller.toml)
  3. environment: STORYTELLER_<SECTION>__<KEY>, e.g. STORYTELLER_SERVER__ADDRESS=0.0.0.0:50051,
     STORYTELLER_AUTH__TOKENS=tok1,tok2
  4. the flags below, and --set SECTION.KEY=VALUE for any other key

health: grpc.health.v1 reports each service ("storyteller.v1.StoryService",
"storyteller.v1.NarrativeService") and the server as a whole (""); a service is
SERVING once its models are loaded. SIGTERM or SIGINT: health turns NOT_SERVING, new
calls are refused, in-flight calls get server.grace_period_s to finish."""


def register_serve(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the gRPC server",
        description="Run the Storyteller gRPC server (StoryService, NarrativeService, health, reflection).",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, default=os.environ.get("STORYTELLER_CONFIG"), help="TOML config file")
    parser.add_argument("--address", help="host:port to listen on (server.address); port 0 picks a free port")
    parser.add_argument("--emotion-model", type=str, help="emotion bundle folder (models.emotion); '' for none")
    parser.add_argument("--story-model", type=str, help="generation bundle folder (models.story); '' for none")
    parser.add_argument("--threads", type=int, help="onnxruntime intra-op threads (models.intra_op_threads)")
    parser.add_argument("--auth-token", action="append", help="accepted bearer token (auth.tokens); repeatable")
    parser.add_argument("--tls-cert", help="server certificate, PEM (tls.cert_file)")
    parser.add_argument("--tls-key", help="server private key, PEM (tls.key_file)")
    parser.add_argument("--tls-client-ca", help="CA for client certificates: enables mutual TLS (tls.client_ca_file)")
    parser.add_argument("--grace-period", type=float, help="seconds to drain calls on shutdown (server.grace_period_s)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (logging.level)")
    parser.add_argument("--log-format", choices=("json", "text"), help="log line format (logging.format)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="set any key")
    sampling = parser.add_argument_group("sampling of requests without sampling settings ([sampling])")
    add_sampling_flags(sampling, "the [sampling] configuration")
    parser.set_defaults(func=run_serve)


FLAG_KEYS = {
    "address": "server.address",
    "emotion_model": "models.emotion",
    "story_model": "models.story",
    "threads": "models.intra_op_threads",
    "auth_token": "auth.tokens",
    "tls_cert": "tls.cert_file",
    "tls_key": "tls.key_file",
    "tls_client_ca": "tls.client_ca_file",
    "grace_period": "server.grace_period_s",
    "log_level": "logging.level",
    "log_format": "logging.format",
}


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides = {key: getattr(args, flag) for flag, key in FLAG_KEYS.items() if getattr(args, flag) is not None}
    overrides.update({f"sampling.{name}": value for name, value in given_sampling(args).items()})
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise ConfigError(f"command line: --set {item!r}: expected SECTION.KEY=VALUE")
        overrides[key.strip()] = value
    return overrides


def run_serve(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config, overrides=_overrides(args))
    except ConfigError as exc:
        print(f"storyteller serve: {exc}", file=sys.stderr)
        return 2
    from server.logs import configure_logging

    configure_logging(settings.logging.level, settings.logging.format)
    try:
        asyncio.run(_serve(settings))
    except ConfigError as exc:  # found while building the server (e.g. an unreadable blocklist)
        print(f"storyteller serve: {exc}", file=sys.stderr)
        return 2
    return 0


async def _serve(settings: Settings) -> None:
    from server.app import StorytellerServer

    server = StorytellerServer.create(settings)
    await server.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(server.shutdown()))
    await server.wait_stopped()

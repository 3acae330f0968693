"""Typed server configuration, merged from defaults, a TOML file, environment and flags.

Later layers win: defaults < TOML file < environment (STORYTELLER_<SECTION>__<KEY>) <
command-line flags. Every value remembers where it came from, so a bad value is
reported with its source and key ("storyteller.toml: limits.max_new_tokens: ...")
instead of a bare validation trace.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from server.generation.sampling import SamplingConfig

ENV_PREFIX = "STORYTELLER_"
# Bundles and quests shipped in the repository: the defaults when none are configured.
SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SAMPLE_MODELS = SAMPLES / "models"


class ConfigError(ValueError):
    """A configuration value is invalid; the message names its source and key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _host_port(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected host:port, got {value!r}")
    return value


# A listening address: "host:port", where port 0 picks a free one.
Address = Annotated[str, AfterValidator(_host_port)]


def _comma_separated(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


# A list that the environment and --set give as one string: "a, b" is ("a", "b").
CommaSeparated = BeforeValidator(_comma_separated)


class ServerSettings(_Section):
    address: Address = Field("127.0.0.1:50051", description="host:port to listen on; port 0 picks a free one")
    grace_period_s: float = Field(10.0, ge=0, description="how long in-flight calls may finish after SIGTERM")
    max_concurrent_rpcs: int = Field(256, ge=1, description="calls served at once; more get RESOURCE_EXHAUSTED")
    max_receive_message_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    max_send_message_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    # Keepalive: TurboLink (Unreal) pings idle connections; the server must permit pings
    # without calls at a short interval or it closes the connection with GOAWAY.
    keepalive_time_s: float = Field(60.0, gt=0, description="server pings idle clients this often")
    keepalive_timeout_s: float = Field(20.0, gt=0, description="a ping unanswered this long closes the connection")
    min_ping_interval_s: float = Field(10.0, gt=0, le=30, description="shortest client ping interval allowed")


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class ModelSettings(_Section):
    emotion: Path | None = Field(SAMPLE_MODELS / "emotion", description="emotion bundle folder; empty = none")
    story: Path | None = Field(SAMPLE_MODELS / "story", description="generation bundle folder; empty = none")
    intra_op_threads: int = Field(2, ge=1, description="onnxruntime threads inside one operator")
    inter_op_threads: int = Field(1, ge=1, description="onnxruntime threads across operators")

    @field_validator("emotion", "story", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


class BatchingSettings(_Section):
    """Dynamic batching of emotion classification across concurrent calls."""

    enabled: bool = True
    max_batch_size: int = Field(32, ge=1, description="texts per onnxruntime run")
    # 0: a batch is whatever queued while the model ran the previous one, so a lone call never
    # waits and a busy server still fills its batches (measured: benchmarks/emotion_server.py).
    max_wait_ms: float = Field(0.0, ge=0, description="extra wait for others to join a batch")


class GenerationSettings(_Section):
    """The generation loop: how many sequences decode together, and what a request leaves to the server.

    The sampling settings of a request without a `sampling` message are the [sampling] section.
    """

    max_batch_size: int = Field(16, ge=1, description="sequences decoded together, emotion candidates included")
    max_waiting: int = Field(64, ge=0, description="requests waiting for a free row; more get RESOURCE_EXHAUSTED")
    default_max_tokens: int = Field(128, ge=1, description="new tokens when sampling.max_tokens is 0")
    default_candidates: int = Field(4, ge=1, description="candidates reranked by emotion when num_candidates is 0")
    max_resamples: int = Field(3, ge=0, description="content-filtered continuations resampled before giving up")
    stream_interval_ms: float = Field(
        20,
        ge=0,
        description="with two or more rows decoding, tokens reach each stream at most this often, several to a "
        "chunk (fewer gRPC messages under load); a row decoding alone streams every token; 0: always every token",
    )


class LimitSettings(_Section):
    max_prompt_chars: int = Field(4000, ge=1)
    max_prompt_tokens: int = Field(768, ge=1)
    max_new_tokens: int = Field(256, ge=1)
    max_candidates: int = Field(8, ge=1)
    max_texts_per_classify: int = Field(64, ge=1)
    max_text_chars: int = Field(2000, ge=1)
    max_text_tokens: int = Field(128, ge=8, description="classified texts are truncated to this many tokens")
    max_stop_sequences: int = Field(8, ge=0, description="strings in sampling.stop")
    max_stop_chars: int = Field(64, ge=1, description="characters of one stop string")
    max_graph_bytes: int = Field(1024 * 1024, ge=1)
    max_beats: int = Field(10_000, ge=1)
    max_sessions: int = Field(10_000, ge=1)


class NarrativeSettings(_Section):
    database: Path = Field(Path(".storyteller/sessions.sqlite3"), description="SQLite file: sessions and graphs")
    graphs: Annotated[tuple[Path, ...], CommaSeparated] = Field(
        (SAMPLES / "graphs",), description="graph files or folders loaded at start-up"
    )
    recent_events: int = Field(20, ge=0, description="events returned with a session")


class AuthSettings(_Section):
    tokens: Annotated[tuple[str, ...], CommaSeparated] = Field(
        (), description="accepted bearer tokens; empty = no authentication"
    )


class TlsSettings(_Section):
    cert_file: Path | None = None
    key_file: Path | None = None
    client_ca_file: Path | None = Field(None, description="set to require client certificates (mutual TLS)")

    @model_validator(mode="after")
    def _pairs(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be set together")
        if self.client_ca_file is not None and self.cert_file is None:
            raise ValueError("client_ca_file needs cert_file and key_file")
        return self

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


class SafetySettings(_Section):
    """Content safety of generated text (server.generation.safety): a rated blocklist and an
    optional classifier hook; a request's rating (or its story's) decides what is filtered."""

    blocklist: Path | None = Field(SAMPLES / "safety" / "blocklist.txt", description="TERM RATING lines; empty = none")
    classifier: str = Field("", description="'module:function' judging whole texts; empty = none")

    @field_validator("blocklist", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


class MetricsSettings(_Section):
    """Prometheus metrics over plain HTTP on a port of their own, apart from gRPC: neither
    TLS nor bearer tokens apply to it, so it listens on loopback unless told otherwise."""

    enabled: bool = Field(True, description="serve Prometheus metrics at http://ADDRESS/metrics")
    address: Address = Field("127.0.0.1:9464", description="host:port of the metrics endpoint; port 0 picks a free one")


class Settings(_Section):
    server: ServerSettings = ServerSettings()
    logging: LoggingSettings = LoggingSettings()
    models: ModelSettings = ModelSettings()
    batching: BatchingSettings = BatchingSettings()
    generation: GenerationSettings = GenerationSettings()
    # What a request without a `sampling` message decodes with: SamplingConfig's fields, checked by
    # it; a key left out keeps its default (a zero in a request's message switches a control off).
    sampling: SamplingConfig = SamplingConfig.defaults()
    limits: LimitSettings = LimitSettings()
    narrative: NarrativeSettings = NarrativeSettings()
    auth: AuthSettings = AuthSettings()
    tls: TlsSettings = TlsSettings()
    metrics: MetricsSettings = MetricsSettings()
    safety: SafetySettings = SafetySettings()

    @field_validator("sampling", mode="before")
    @classmethod
    def _sampling_over_defaults(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {**dataclasses.asdict(SamplingConfig.defaults()), **value}
        return value


def _flatten(data: Mapping[str, Any], source: str) -> dict[str, tuple[Any, str]]:
    """Maps "section.key" to (value, source); anything deeper stays a value of its key."""
    flat: dict[str, tuple[Any, str]] = {}
    for section, body in data.items():
        if isinstance(body, Mapping):
            for key, value in body.items():
                flat[f"{section}.{key}"] = (value, source)
        else:
            flat[section] = (body, source)
    return flat


def _read_toml(path: Path) -> dict[str, tuple[Any, str]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    flat = _flatten(data, str(path))
    base = path.resolve().parent
    for key in _path_keys() & flat.keys():
        value, source = flat[key]
        # Paths in a config file are relative to that file, not to the working directory.
        if isinstance(value, str) and value:
            flat[key] = (str(base / value), source)
        elif isinstance(value, list):
            flat[key] = ([str(base / v) if isinstance(v, str) else v for v in value], source)
    return flat


def _path_keys() -> set[str]:
    """The "section.key" names whose values are file system paths."""
    keys = set()
    for section, section_field in Settings.model_fields.items():
        model = section_field.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue  # [sampling]: SamplingConfig, which holds no paths
        for name, field in model.model_fields.items():
            if field.annotation is Path or Path in get_args(field.annotation) or field.annotation == tuple[Path, ...]:
                keys.add(f"{section}.{name}")
    return keys


def _source_of(loc: tuple[Any, ...], merged: Mapping[str, tuple[Any, str]]) -> str:
    """Where the value at a validation error's location came from."""
    key = ".".join(str(part) for part in loc[:2])
    if key in merged:
        return merged[key][1]
    # A whole-section error (e.g. cert_file without key_file): any key of that section.
    prefix = f"{loc[0]}." if loc else ""
    return next((source for k, (_, source) in merged.items() if k.startswith(prefix)), "defaults")


def _read_env(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    flat: dict[str, tuple[Any, str]] = {}
    for name, value in environ.items():
        if name.startswith(ENV_PREFIX) and "__" in name:
            section, key = name[len(ENV_PREFIX) :].lower().split("__", 1)
            flat[f"{section}.{key}"] = (value, f"environment {name}")
    return flat


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Builds Settings from the layers; raises ConfigError naming the source and key."""
    environ = os.environ if environ is None else environ
    merged: dict[str, tuple[Any, str]] = {}
    if config_file is not None:
        merged.update(_read_toml(config_file))
    merged.update(_read_env(environ))
    merged.update({key: (value, "command line") for key, value in (overrides or {}).items()})

    nested: dict[str, Any] = {}
    for key, (value, _) in merged.items():
        section, _, field = key.partition(".")
        if field:
            nested.setdefault(section, {})[field] = value
        else:
            nested[section] = value
    try:
        return Settings.model_validate(nested)
    except ValidationError as exc:
        problems = [
            f"{_source_of(e['loc'], merged)}: {'.'.join(str(p) for p in e['loc'][:2])}: {e['msg']}"
            for e in exc.errors()
        ]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None

"""Every surface of the sampling settings carries every SamplingConfig field: the proto message, the
request checks, the configuration, and the flags of serve, generate and batch. A field that one of
them misses fails here, by name."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from server.batch.cli import register as register_batch
from server.cli import _overrides, register_serve
from server.config import Settings, load_settings
from server.errors import InvalidArgument
from server.generation.sampling import SamplingConfig, controls
from server.generation_cli import _request
from server.generation_cli import register as register_generate
from server.sampling_flags import flag, sampling_from_flags
from server.services.validation import generation_params, sampling_config, sampling_pb
from storyteller.v1 import common_pb2

NAMES = list(controls())
NOT_CONTROLS = {"max_tokens", "stop", "seed"}  # the request's other generation settings


def _value(name: str) -> float:
    """A valid value of the field that is neither its off value nor its default."""
    control = controls()[name]
    value = control.kind(min(control.default + 1, control.high) if control.kind is int else control.high / 2 if control.high < 10 else 1.5)
    assert value not in (getattr(SamplingConfig(), name), control.default), name
    return value


def _parse(register, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


def test_the_proto_message_has_a_field_for_each_setting_and_no_other():
    fields = {f.name for f in common_pb2.SamplingParams.DESCRIPTOR.fields}
    assert fields - NOT_CONTROLS == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_a_setting_goes_through_the_proto_both_ways(name):
    config = dataclasses.replace(SamplingConfig(), **{name: _value(name)})
    assert sampling_config(sampling_pb(config, 0, (), 0)) == config


@pytest.mark.parametrize("name", NAMES)
def test_a_setting_out_of_range_is_invalid_argument_naming_it(name):
    control = controls()[name]
    bad = control.low - 1 if control.high == float("inf") else control.high + 1
    with pytest.raises(InvalidArgument) as caught:
        sampling_config(common_pb2.SamplingParams(**{name: control.kind(bad)}))
    assert caught.value.field == f"sampling.{name}"


@pytest.mark.parametrize("name", NAMES)
def test_a_request_without_sampling_settings_gets_the_configured_default(name):
    settings = load_settings(environ={}, overrides={f"sampling.{name}": _value(name)})
    assert getattr(settings.sampling, name) == _value(name)
    assert getattr(Settings().sampling, name) == controls()[name].default
    params = generation_params(_request(_parse(register_generate, "generate", "x"), settings.sampling), settings)
    assert getattr(params.sampling, name) == _value(name)


@pytest.mark.parametrize("name", NAMES)
def test_serve_generate_and_batch_take_a_flag_for_the_setting(name):
    value = str(_value(name))
    serve = _parse(register_serve, "serve", flag(name), value)
    assert _overrides(serve)[f"sampling.{name}"] == _value(name)
    generate = _request(_parse(register_generate, "generate", "x", flag(name), value), SamplingConfig.defaults())
    assert getattr(generate.sampling, name) == pytest.approx(_value(name))
    batch = _parse(register_batch, "batch", "--graph", "g.yaml", "--out", "o.jsonl", flag(name), value)
    assert getattr(sampling_from_flags(batch, SamplingConfig.defaults()), name) == _value(name)


def test_batch_and_a_request_without_settings_sample_alike():
    """`storyteller batch` without sampling flags writes with the server's defaults."""
    batch = _parse(register_batch, "batch", "--graph", "g.yaml", "--out", "o.jsonl")
    assert sampling_from_flags(batch, SamplingConfig.defaults()) == Settings().sampling == SamplingConfig.defaults()

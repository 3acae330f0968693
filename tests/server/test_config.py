"""Configuration layers and the errors a bad configuration gives."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from server.app import channel_options
from server.config import ConfigError, load_settings


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_layers_later_sources_win(tmp_path):
    config = write(tmp_path / "st.toml", '[server]\naddress = "0.0.0.0:6000"\ngrace_period_s = 3\n[limits]\nmax_new_tokens = 100\n')
    settings = load_settings(
        config,
        environ={"STORYTELLER_SERVER__ADDRESS": "127.0.0.1:7000", "STORYTELLER_AUTH__TOKENS": "a, b"},
        overrides={"limits.max_new_tokens": 50},
    )
    assert settings.server.address == "127.0.0.1:7000"  # env over file
    assert settings.server.grace_period_s == 3  # file over default
    assert settings.limits.max_new_tokens == 50  # command line over file
    assert settings.auth.tokens == ("a", "b")


def test_relative_paths_in_a_config_file_are_relative_to_that_file(tmp_path):
    (tmp_path / "conf").mkdir()
    config = write(tmp_path / "conf" / "st.toml", '[models]\nemotion = "../bundles/emo"\nstory = ""\n')
    settings = load_settings(config, environ={})
    assert settings.models.emotion.resolve() == (tmp_path / "bundles" / "emo").resolve()
    assert settings.models.story is None


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[limits]\nmax_new_tokens = "lots"\n', "limits.max_new_tokens: Input should be a valid integer"),
        ('[server]\nadress = "127.0.0.1:1"\n', "server.adress: Extra inputs are not permitted"),
        ('[server]\naddress = "nowhere"\n', "server.address: Value error, expected host:port"),
        ("[server]\nmin_ping_interval_s = 45\n", "server.min_ping_interval_s: Input should be less than or equal to 30"),
        ('[tls]\ncert_file = "a.pem"\n', "tls: Value error, cert_file and key_file must be set together"),
        ("[bogus]\nx = 1\n", "bogus: Extra inputs are not permitted"),
    ],
)
def test_bad_config_file_names_the_file_and_key(tmp_path, toml, expected):
    config = write(tmp_path / "bad.toml", toml)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert f"{config}: {expected}" in str(caught.value)


def test_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigError, match=r"environment STORYTELLER_MODELS__INTRA_OP_THREADS: models.intra_op_threads"):
        load_settings(None, environ={"STORYTELLER_MODELS__INTRA_OP_THREADS": "0"})


def test_toml_syntax_error_is_reported_with_the_file(tmp_path):
    config = write(tmp_path / "broken.toml", "[server\n")
    with pytest.raises(ConfigError, match=rf"{config}: not valid TOML"):
        load_settings(config, environ={})


def test_serve_with_a_bad_config_exits_2_with_the_key(tmp_path):
    config = write(tmp_path / "bad.toml", "[limits]\nmax_text_chars = -1\n")
    result = subprocess.run(
        [sys.executable, "-m", "server", "serve", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert f"{config}: limits.max_text_chars: Input should be greater than or equal to 1" in result.stderr


def test_keepalive_lets_turbolink_clients_ping_idle_connections():
    options = dict(channel_options(load_settings(None, environ={}).server))
    assert options["grpc.keepalive_permit_without_calls"] == 1
    assert options["grpc.http2.min_recv_ping_interval_without_data_ms"] <= 30_000
    assert options["grpc.keepalive_time_ms"] == 60_000
    assert options["grpc.max_receive_message_length"] == 4 * 1024 * 1024


def test_sample_config_lists_the_defaults():
    """samples/storyteller.toml documents every key with its default: it must not drift."""
    sample = load_settings(Path(__file__).parents[2] / "samples" / "storyteller.toml", environ={})
    defaults = load_settings(None, environ={})
    assert sample.model_dump() == defaults.model_dump()

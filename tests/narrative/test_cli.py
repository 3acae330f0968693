from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest
import yaml

from narrative.cli import register

TWEE = ":: StoryData\n{\"start\": \"Gate\"}\n\n:: Gate\n[[Knock->Hall]]\n\n:: Hall\nWarm at last.\n"


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="storyteller")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_import_twine_writes_a_loadable_graph(tmp_path: Path) -> None:
    source, out = tmp_path / "gate.twee", tmp_path / "gate.yaml"
    source.write_text(TWEE, encoding="utf-8")

    assert _run("graph", "import-twine", str(source), "-o", str(out), "--style", "fairy_tale") == 0

    data = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert data["story"]["style"] == "fairy_tale"
    assert [choice["text"] for choice in data["choices"]] == ["Knock"]


def test_import_twine_reports_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "gate.twee"
    source.write_text(TWEE.replace("Hall]]", "Cellar]]"), encoding="utf-8")

    assert _run("graph", "import-twine", str(source), "-o", str(tmp_path / "out.yaml")) == 1

    assert f"{source}:5: link 'Knock' goes to passage 'Cellar'" in capsys.readouterr().err
    assert not (tmp_path / "out.yaml").exists()


def test_import_twine_refuses_a_bad_style(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        _run("graph", "import-twine", "x.twee", "-o", "x.yaml", "--style", "Sci Fi")


def test_render_writes_html(tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[2] / "samples" / "graphs" / "orbital_station_scifi.yaml"
    out = tmp_path / "station.html"

    assert _run("graph", "render", str(sample), "-o", str(out)) == 0

    assert "ask_juno_together" in out.read_text(encoding="utf-8")


def test_render_without_the_graph_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delitem(sys.modules, "narrative.render", raising=False)
    monkeypatch.setitem(sys.modules, "pyvis.network", None)  # makes `import pyvis.network` fail

    assert _run("graph", "render", "any.yaml", "-o", str(tmp_path / "out.html")) == 1

    assert "pip install 'storyteller[graph]'" in capsys.readouterr().err


def test_render_reports_load_errors_with_positions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("story: {id: s, title: T, style: mystery, start: a}\nbeats:\n  - {id: a, summry: A}\n", encoding="utf-8")

    assert _run("graph", "render", str(broken), "-o", str(tmp_path / "out.html")) == 1

    assert f"{broken}:3:" in capsys.readouterr().err


def test_render_reports_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("graph", "render", str(tmp_path / "none.yaml"), "-o", str(tmp_path / "out.html")) == 1

    assert "none.yaml" in capsys.readouterr().err


def test_a_reader_that_stops_early_ends_the_output_quietly() -> None:
    """`storyteller graph simulate FILE | head`: the closed pipe ends the command without a traceback."""
    import subprocess

    graph = Path(__file__).resolve().parents[2] / "samples" / "graphs" / "lighthouse_mystery.yaml"
    command = [sys.executable, "-m", "server", "graph", "simulate", str(graph), "--runs", "50", "--format", "json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the report is printed
    errors = process.stderr.read().decode()
    process.wait(timeout=60)
    assert "Traceback" not in errors and "BrokenPipeError" not in errors, errors
    assert process.returncode == 141  # as a process killed by SIGPIPE, which a shell pipeline expects

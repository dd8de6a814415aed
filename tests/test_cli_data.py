"""The issue's acceptance path through the console: synth, then validate."""

from __future__ import annotations

from click.testing import CliRunner

from leukmodel.cli import cli


def test_synth_then_validate_reports_four_classes_both_modalities_40_patients(tmp_path):
    runner = CliRunner()
    out = tmp_path / "c"
    result = runner.invoke(cli, ["synth", str(out), "--patients", "40", "--images-per-patient", "4", "--seed", "0"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["validate", str(out / "config.yaml")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "classes: 4" in lines
    assert "modalities: images, expression; genes/probes: 2000" in lines
    assert "synthetic data: yes" in lines
    total = next(line for line in lines if line.startswith("total")).split()
    assert total == ["total", "40", "40", "160", "40"]
    assert "images: all 160 readable" in result.output


def test_synth_bad_knob_is_a_named_option_error(tmp_path):
    result = CliRunner().invoke(cli, ["synth", str(tmp_path / "c"), "--classes", "A,B,C,D,E"])
    assert result.exit_code == 2
    assert "Invalid value for --classes" in result.output


def test_help_lists_the_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("synth", "validate", "demo"):
        assert command in result.output

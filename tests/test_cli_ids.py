"""IdArgumentCommand: positional ids that begin with a dash, beside the command's own options."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from identity_service.cli_ids import IdArgumentCommand


@click.command(cls=IdArgumentCommand)
@click.argument("kid")
@click.option("--operator", default="nobody")
@click.option("--yes", is_flag=True)
@click.option("-v", "--verbose", count=True)
def toy_retire(kid: str, operator: str, yes: bool, verbose: int) -> None:
    """A toy command (not part of the CLI) that echoes what it parsed."""
    click.echo(f"{kid}|{operator}|{yes}|{verbose}")


@pytest.mark.parametrize(("args", "parsed"), [
    (["--pOJZqgXBWHp0ZI8hAxbO"], "--pOJZqgXBWHp0ZI8hAxbO|nobody|False|0"),
    (["-x3F", "--operator", "ops-bob"], "-x3F|ops-bob|False|0"),
    (["--operator", "ops-bob", "-x3F", "--yes"], "-x3F|ops-bob|True|0"),
    (["--operator=-dash", "plain"], "plain|-dash|False|0"),
    (["--operator", "--yes", "k"], "k|--yes|False|0"),  # an option's value is its value, whatever it looks like
    (["-v", "--verbose", "k"], "k|nobody|False|2"),
    (["--", "--yes"], "--yes|nobody|False|0"),
])
def test_ids_that_look_like_options_are_ids(args: list[str], parsed: str) -> None:
    result = CliRunner().invoke(toy_retire, args)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == parsed


def test_usage_errors_stay_usage_errors() -> None:
    assert CliRunner().invoke(toy_retire, []).exit_code == 2  # the id is missing
    assert CliRunner().invoke(toy_retire, ["a", "b"]).exit_code == 2  # one id too many
    helped = CliRunner().invoke(toy_retire, ["--help"])
    assert helped.exit_code == 0 and "--operator" in helped.output

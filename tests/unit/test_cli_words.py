"""What the command line says: an example in every help, "an operator token", and the configuration's
checks of sites and parks, each naming its field."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from gateway.cli import build_parser, main
from gateway.settings import ConfigError, load_settings
from simulators.cli import build_parser as build_simulate_parser


def _parsers(parser: argparse.ArgumentParser, name: str) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(name, parser)]
    for action in parser._actions:  # noqa: SLF001 - argparse keeps its subcommands there
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub_name, sub in action.choices.items():
                found += _parsers(sub, f"{name} {sub_name}")
    return found


PARSERS = [
    *[(n, p) for n, p in _parsers(build_parser(), "coopgrid") if n != "coopgrid simulate"],
    *_parsers(build_simulate_parser(), "coopgrid simulate"),
]


@pytest.mark.parametrize(("name", "parser"), PARSERS, ids=[n for n, _ in PARSERS])
def test_every_help_shows_an_example_of_its_own_command(name: str, parser: argparse.ArgumentParser) -> None:
    text = parser.format_help()
    assert "\nexamples:\n" in text, f"`{name} --help` shows no example:\n{text}"
    section = text.split("\nexamples:\n", 1)[1].splitlines()
    examples = [line.strip() for line in section if line.strip()]
    assert examples
    for example in examples:
        words = example.split("#")[0].split()
        argv = words[words.index("coopgrid") + 1 :]  # after any VAR=value in front
        assert " ".join(["coopgrid", *argv]).startswith(name), example  # an example of this command
        if argv[0] == "simulate":
            build_simulate_parser().parse_args(argv[1:])  # the example parses: no option in it was renamed
        else:
            build_parser().parse_args(argv)


def test_simulate_help_goes_to_the_simulators(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["simulate", "inverters", "--help"])
    assert done.value.code == 0
    assert "coopgrid simulate inverters --mqtt 127.0.0.1:1883" in capsys.readouterr().out


@pytest.mark.parametrize(("role", "article"), [("operator", "an"), ("viewer", "a")])
def test_token_create_says_an_operator_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], role: str, article: str
) -> None:
    for name in ("COOPGRID_DATABASE__URL", "COOPGRID_OPERATOR_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "c.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "t.db"}"\n', encoding="utf-8")
    assert main(["token", "create", "--role", role, "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert f", {article} {role} token that does not expire;" in err


def _load(**config: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(None, **config)
    return str(info.value)


def test_a_duplicate_inverter_id_within_a_park_is_refused_by_name() -> None:
    inverters = [{"id": "inv-1", "rated_power_w": 1000}, {"id": "inv-2", "rated_power_w": 1000}]
    message = _load(parks=[{"id": "p", "member_id": "m", "inverters": [*inverters, inverters[0]]}])
    assert message.splitlines()[1:] == [
        "  parks.0.inverters.2.id: duplicate inverter id 'inv-1' in park 'p' (also inverters.0)"
    ]
    # the same id in two parks is two inverters
    parks = [{"id": p, "member_id": "m", "inverters": inverters} for p in ("p", "q")]
    assert len(load_settings(None, parks=parks).parks) == 2


def test_a_base_load_above_the_grid_limit_is_refused_by_name() -> None:
    message = _load(sites=[{"id": "s", "grid_limit_a": 32}, {"id": "t", "grid_limit_a": 32, "base_load_a": 40}])
    assert message.splitlines()[1:] == [
        "  sites.1.base_load_a: 40 A is above the site's grid_limit_a of 32 A "
        "(the load already on the connection leaves no room)"
    ]
    assert load_settings(None, sites=[{"id": "s", "grid_limit_a": 32, "base_load_a": 32}]).sites[0].base_load_a == 32


def test_error_lines_are_as_the_readme_shows_them() -> None:
    message = _load(sites=[{"id": "s"}], chargers=[{"id": "c", "site_id": "nowhere"}])
    assert message == "invalid configuration:\n  chargers.0.site_id: unknown site 'nowhere'"
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"coopgrid: {message}\n" in readme
    several = _load(sites=[{"id": "s", "grid_limit_a": 10, "base_load_a": 11}], chargers=[{"id": "c", "site_id": "x"}])
    assert "(top level)" not in several
    assert [line.split(":")[0].strip() for line in several.splitlines()[1:]] == [
        "chargers.0.site_id",
        "sites.0.base_load_a",
    ]

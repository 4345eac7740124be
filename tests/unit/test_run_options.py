"""One table of run options, read by every surface: the pytest options and ini keys, the `[tool.muscle-guard]`
keys and `muscle-guard check`. A row added there shows up everywhere; none is declared twice."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from muscle_guard.cli.check import check
from muscle_guard.core.config import SETTING_KEYS, load_project_config
from muscle_guard.core.errors import ConfigError
from muscle_guard.core.run_options import RUN_KEYS, RUN_OPTIONS, split_list


def test_every_row_is_a_pytest_option_and_an_ini_key(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")

    text = result.stdout.str()
    for option in RUN_OPTIONS:
        assert option.flag in text
        assert f"{option.dest} (" in text  # the ini key, with its type


def test_muscle_guard_check_has_every_row_it_passes_on() -> None:
    parameters = inspect.signature(check).parameters

    assert {o.key for o in RUN_OPTIONS if o.check} <= set(parameters)
    assert {"ctx", "paths", "report", "workers", "as_json"} <= set(parameters)


def test_gate_rows_are_suite_settings_and_the_rest_run_keys() -> None:
    gates = {o.key for o in RUN_OPTIONS if o.kind == "gate"}

    assert gates <= SETTING_KEYS
    assert not gates & set(RUN_KEYS)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("trust_remote_code = 'false'", "trust_remote_code = 'false' is a string; expected true or false"),
        ("batch_size = 1.5", "batch_size = 1.5 is a float; expected a whole number or 'auto'"),
        ("device = 1", "device = 1 is an integer; expected a string"),
    ],
)
def test_a_run_key_has_the_toml_type_of_its_row(tmp_path: Path, line: str, message: str) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(f"[tool.muscle-guard]\n{line}\n", encoding="utf-8")

    with pytest.raises(ConfigError, match=message):
        load_project_config(pyproject)


def test_lists_are_toml_lists_or_comma_separated() -> None:
    assert split_list(["a", " b "]) == ["a", "b"]
    assert split_list("a, b,\nc,,") == ["a", "b", "c"]


def test_fix_s_command_line_defaults_are_train_config_s() -> None:
    from muscle_guard.cli.fix import fix
    from muscle_guard.fix.config import TrainConfig

    defaults = TrainConfig()
    parameters = inspect.signature(fix).parameters
    # None in the CLI where the default depends on the run: the strategy's own settings (the default ensemble
    # candidate or a named strategy) and the schedule (fix.schedule: from the data and the model).
    decided_later = ("strategy", "select", "ce_weight", "ensemble_weight", "epochs", "lr", "batch_size", "val_fraction")
    shared = [name for name in parameters if hasattr(defaults, name) and name not in decided_later]
    assert all(parameters[name].default is None for name in decided_later)

    assert len(shared) >= 11
    assert {name: parameters[name].default for name in shared} == {name: getattr(defaults, name) for name in shared}


def test_the_readme_lists_every_option_and_run_key() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    configuration = readme[readme.index("## Configuration") : readme.index("## The command line")]

    assert [o.flag for o in RUN_OPTIONS if o.flag not in configuration] == []
    assert [key for key in RUN_KEYS if key not in configuration] == []

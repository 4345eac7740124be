"""Suite settings: where each value comes from, and the message a bad value gets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from muscle_guard.core.config import (
    Gates,
    ProjectConfig,
    SuiteSettings,
    apply_settings,
    load_project_config,
    parse_setting,
)
from muscle_guard.core.errors import ConfigError


def pyproject(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(body, encoding="utf-8")
    return path


# --- precedence: defaults < [tool.muscle-guard] < [tool.muscle-guard.suites.NAME] < overrides ---------------

PRECEDENCE: list[tuple[str, str, dict[str, Any], int]] = [
    # (case, pyproject body, overrides, max_new_tokens that suite "qa" gets)
    ("built-in default", "", {}, 64),
    ("global table", "[tool.muscle-guard]\nmax_new_tokens = 32\n", {}, 32),
    (
        "suite table over global",
        "[tool.muscle-guard]\nmax_new_tokens = 32\n[tool.muscle-guard.suites.qa]\nmax_new_tokens = 16\n",
        {},
        16,
    ),
    ("suite table alone", "[tool.muscle-guard.suites.qa]\nmax_new_tokens = 16\n", {}, 16),
    (
        "another suite's table",
        "[tool.muscle-guard]\nmax_new_tokens = 32\n[tool.muscle-guard.suites.other]\nmax_new_tokens = 16\n",
        {},
        32,
    ),
    (
        "override over all",
        "[tool.muscle-guard]\nmax_new_tokens = 32\n[tool.muscle-guard.suites.qa]\nmax_new_tokens = 16\n",
        {"max_new_tokens": 8},
        8,
    ),
    ("override alone", "", {"max_new_tokens": 8}, 8),
]


@pytest.mark.parametrize(("body", "overrides", "expected"), [p[1:] for p in PRECEDENCE], ids=[p[0] for p in PRECEDENCE])
def test_settings_precedence(tmp_path: Path, body: str, overrides: dict[str, Any], expected: int) -> None:
    config = load_project_config(pyproject(tmp_path, body))

    assert config.settings_for("qa", overrides).max_new_tokens == expected


def test_layers_merge_key_by_key(tmp_path: Path) -> None:
    path = pyproject(
        tmp_path,
        "[tool.muscle-guard]\nmax_nfr = 0.1\nnormaliser = 'lower'\n"
        "[tool.muscle-guard.suites.qa]\nnormaliser = 'final_number'\nalpha = 0.05\n",
    )

    settings = load_project_config(path).settings_for("qa", {"max_negative_flips": 3})

    assert settings.normaliser == "final_number"
    assert settings.gates == Gates(max_nfr=0.1, max_negative_flips=3, alpha=0.05)
    assert settings.max_new_tokens == SuiteSettings().max_new_tokens


def test_kebab_case_keys_are_accepted_everywhere(tmp_path: Path) -> None:
    path = pyproject(
        tmp_path,
        '[tool.muscle-guard]\nmax-new-tokens = 32\nprompt-template = "Q: {prompt}\\nA:"\n'
        "[tool.muscle-guard.suites.qa]\nmax-nfr = 0.2\nmc-norm = 'acc_norm'\n",
    )

    settings = load_project_config(path).settings_for("qa", {"max-negative-flips": 2})

    assert settings.max_new_tokens == 32
    assert settings.prompt_template == "Q: {prompt}\nA:"
    assert settings.mc_norm == "acc_norm"
    assert settings.gates.max_nfr == 0.2
    assert settings.gates.max_negative_flips == 2


def test_run_keys_are_kept_apart_from_suite_settings(tmp_path: Path) -> None:
    path = pyproject(tmp_path, "[tool.muscle-guard]\nold = 'models/old'\ncache-dir = '.cache'\nmax_nfr = 0.1\n")

    config = load_project_config(path)

    assert config.run == {"old": "models/old", "cache_dir": ".cache"}
    assert config.defaults == {"max_nfr": 0.1}


def test_suite_paths_can_sit_beside_per_suite_tables(tmp_path: Path) -> None:
    """TOML cannot hold `suites = [...]` and [tool.muscle-guard.suites.NAME] in one file (pytest itself stops on
    it); `suite_paths` is the same run key spelled so that both fit."""
    body = "[tool.muscle-guard]\nsuite-paths = ['evals/']\n[tool.muscle-guard.suites.qa]\nmax_new_tokens = 16\n"

    config = load_project_config(pyproject(tmp_path, body))

    assert config.run == {"suites": ["evals/"]}
    assert config.settings_for("qa").max_new_tokens == 16


def test_suites_and_suite_paths_together_are_refused(tmp_path: Path) -> None:
    path = pyproject(tmp_path, "[tool.muscle-guard]\nsuites = ['a/']\nsuite_paths = ['b/']\n")
    with pytest.raises(ConfigError, match=r"both 'suites' and 'suite_paths' list suite paths; keep one"):
        load_project_config(path)
    path = pyproject(tmp_path, "[tool.muscle-guard]\nsuite_paths = 3\n")
    with pytest.raises(ConfigError, match=r"suite_paths = 3 is an integer; expected a string or a list of strings"):
        load_project_config(path)


@pytest.mark.parametrize(
    "path",
    [None, Path("does-not-exist.toml")],
    ids=["none", "missing file"],
)
def test_no_pyproject_means_defaults(path: Path | None) -> None:
    assert load_project_config(path).settings_for("qa") == SuiteSettings()


def test_a_pyproject_without_the_table_means_defaults(tmp_path: Path) -> None:
    path = pyproject(tmp_path, "[project]\nname = 'x'\n[tool.ruff]\nline-length = 100\n")

    assert load_project_config(path).settings_for("qa") == SuiteSettings()


# --- bad values name the file, the table and the key ------------------------------------------------------------

G = "[tool.muscle-guard]"
S = "[tool.muscle-guard.suites.qa]"
BAD_VALUES: list[tuple[str, str, str, str]] = [
    # (case, pyproject body, the table named, the rest of the message)
    ("max_nfr above 1", f"{G}\nmax_nfr = 2\n", G, "max_nfr = 2 is invalid; expected a fraction between 0 and 1"),
    ("max_nfr negative", f"{G}\nmax_nfr = -0.1\n", G, "max_nfr = -0.1 is invalid; expected a fraction between 0 and 1"),
    ("alpha 0", f"{G}\nalpha = 0\n", G, "alpha = 0 is invalid; expected a significance level in (0, 1]"),
    (
        "max_new_tokens 0",
        f"{G}\nmax_new_tokens = 0\n",
        G,
        "max_new_tokens = 0 is invalid; expected a whole number >= 1",
    ),
    (
        "max_new_tokens a bool",
        f"{G}\nmax_new_tokens = true\n",
        G,
        "max_new_tokens = True is a boolean; expected a whole number",
    ),
    (
        "max_negative_flips fractional",
        f"{G}\nmax_negative_flips = 1.5\n",
        G,
        "max_negative_flips = 1.5 is a float; expected a whole number or 'none'",
    ),
    ("epsilon negative", f"{G}\nepsilon = -1\n", G, "epsilon = -1 is invalid; expected a number >= 0"),
    ("epsilon nan", f"{G}\nepsilon = nan\n", G, "epsilon = nan is invalid; expected a number"),
    ("mc_norm unknown", f"{G}\nmc_norm = 'mean'\n", G, "mc_norm = 'mean' is invalid; expected one of acc, acc_norm"),
    ("stop a number", f"{G}\nstop = 3\n", G, "stop = 3 is an integer; expected a list of strings"),
    (
        "labels one string",
        f"{G}\nlabels = 'neg,pos'\n",
        G,
        """labels = 'neg,pos' is a string; expected a list of strings; write labels = ["neg", "pos"]""",
    ),
    (
        "max_nfr a string",
        f"{S}\nmax_nfr = '0.6'\n",
        S,
        "max_nfr = '0.6' is a string; expected a number; write it without quotes",
    ),
    ("max_new_tokens a float", f"{G}\nmax_new_tokens = 3.0\n", G, "max_new_tokens = 3.0 is a float; expected a whole"),
    ("scorer a number", f"{G}\nscorer = 1\n", G, "scorer = 1 is an integer; expected a string"),
    ("template a list", f"{S}\nprompt_template = ['{{prompt}}']\n", S, "prompt_template = ['{prompt}'] is an array"),
    ("epsilon a bool", f"{G}\nepsilon = false\n", G, "epsilon = False is a boolean; expected a number"),
    ("stop list of numbers", f"{G}\nstop = [1, 2]\n", G, "stop = [1, 2] is an array; expected a list of strings"),
    (
        "template without {prompt}",
        f"{G}\nprompt_template = 'Q: {{question}}'\n",
        G,
        "prompt_template = 'Q: {question}' is invalid; expected a string containing {prompt}",
    ),
    ("kebab key as written", f"{G}\nmax-nfr = 2\n", G, "max-nfr = 2 is invalid; expected a fraction between 0 and 1"),
    (
        "suite table value",
        f"{S}\nmax_new_tokens = 0\n",
        S,
        "max_new_tokens = 0 is invalid; expected a whole number >= 1",
    ),
    ("suite table unknown key", f"{S}\ncolour = 'red'\n", S, "unknown setting 'colour'; known: "),
    ("global unknown key", f"{G}\ncolour = 'red'\n", G, "unknown key 'colour'; known: "),
]


@pytest.mark.parametrize(("body", "table", "message"), [b[1:] for b in BAD_VALUES], ids=[b[0] for b in BAD_VALUES])
def test_a_bad_setting_names_file_table_and_key(tmp_path: Path, body: str, table: str, message: str) -> None:
    path = pyproject(tmp_path, body)

    with pytest.raises(ConfigError) as info:
        load_project_config(path)

    assert str(info.value).startswith(f"{path} {table}: {message}")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[tool.muscle-guard\nmax_nfr = 1\n", "not valid TOML"),
        ("[tool]\nmuscle-guard = 3\n", "[tool.muscle-guard] must be a table"),
        ("tool = 3\n", "[tool] must be a table"),
        ("[tool.muscle-guard.suites]\nqa = 3\n", "[tool.muscle-guard.suites.qa] must be a table"),
    ],
    ids=["bad TOML", "tool.muscle-guard not a table", "tool not a table", "suite entry not a table"],
)
def test_a_malformed_pyproject_names_the_file(tmp_path: Path, body: str, message: str) -> None:
    path = pyproject(tmp_path, body)

    with pytest.raises(ConfigError) as info:
        load_project_config(path)

    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_a_bad_override_names_the_command_line() -> None:
    with pytest.raises(ConfigError, match=r"^command line: max_nfr = '1.5' is invalid; expected a fraction"):
        ProjectConfig().settings_for("qa", {"max_nfr": "1.5"})


@pytest.mark.parametrize(
    ("key", "raw", "parsed"),
    [
        ("max_nfr", "0.25", 0.25),
        ("max_new_tokens", "12", 12),
        ("max_negative_flips", "none", None),
        ("alpha", "1", 1.0),
        ("stop", "###", ("###",)),
        ("labels", ["neg", "pos"], ("neg", "pos")),
        ("max-new-tokens", "12", 12),
    ],
)
def test_command_line_strings_are_parsed(key: str, raw: Any, parsed: Any) -> None:
    assert parse_setting(key, raw, "--muscle-set") == parsed


# --- rendering and labels -----------------------------------------------------------------------------------------

RENDER: list[tuple[str, str, str]] = [
    # (template, prompt, rendered)
    ("{prompt}", "2+2=", "2+2="),
    ("Question: {prompt}\nAnswer:", "2+2?", "Question: 2+2?\nAnswer:"),
    ("Q: {prompt}", "{__class__}", "Q: {__class__}"),
    ("Q: {prompt}", "{0} and {1}", "Q: {0} and {1}"),
    ("Q: {prompt}", "say {prompt}", "Q: say {prompt}"),
    ("{x} {prompt}", "p", "{x} p"),
    ("{prompt} / {prompt}", "p", "p / p"),
]


@pytest.mark.parametrize(("template", "prompt", "rendered"), RENDER)
def test_render_is_plain_substitution(template: str, prompt: str, rendered: str) -> None:
    settings = apply_settings(SuiteSettings(), {"prompt_template": template}, "test")

    assert settings.render(prompt) == rendered


@pytest.mark.parametrize(("label", "index"), [(1, 1), ("neg", 0), ("pos", 1)])
def test_labels_are_indices_or_configured_names(label: int | str, index: int) -> None:
    settings = SuiteSettings(labels=("neg", "pos"))

    assert settings.label_index(label) == index


def test_an_unknown_label_name_says_which_labels_exist() -> None:
    with pytest.raises(ConfigError, match=r"label 'meh' is not one of the suite's labels \(neg, pos\)"):
        SuiteSettings(labels=("neg", "pos")).label_index("meh")


def test_settings_round_trip_through_json() -> None:
    settings = apply_settings(
        SuiteSettings(),
        {"prompt_template": "Q: {prompt}", "stop": ["\n"], "labels": ["a", "b"], "max_nfr": 0.1, "alpha": 0.05},
        "test",
    )

    assert SuiteSettings.from_json(settings.to_json()) == settings


def test_every_key_has_one_toml_type() -> None:
    from muscle_guard.core import config

    assert set(config._TOML_TYPES) == set(config.SETTING_KEYS)

"""Catalogue: every suite and waiver of a run means one thing.

Two suite files with one name (`a/mc.jsonl`, `b/mc.jsonl`) would share waivers, baseline entries, settings
tables and summary rows, since all of them name a suite by its file name: the second is refused in every front
end. A waiver that names a suite or an instance the run does not have waives nothing: the summary says so.
"""

from __future__ import annotations

import pytest

from tests.robustness.conftest import Project, assert_no_traceback, good_lines, passing

CLASH = (
    "suites/b/capitals.jsonl: suite name 'capitals' is also the name of {first}; waivers, baselines, "
    "[tool.muscle-guard.suites.capitals] and reports name a suite by its file name, so rename one file"
)


def two_suites_named_capitals(project: Project) -> None:
    (project.path / "suites/capitals.jsonl").rename(project.path / "suites/rivers-too.jsonl")
    for folder in ("a", "b"):
        lines = good_lines(f"{folder}cap")
        project.write_lines(f"suites/{folder}/capitals.jsonl", lines)
        project.teach(lines)


def test_pytest_refuses_the_second_suite_of_a_name_and_runs_the_rest(project: Project) -> None:
    two_suites_named_capitals(project)

    run = project.pytest()

    assert run.collection_errors == {
        "suites/b/capitals.jsonl": CLASH.format(first=project.path / "suites/a/capitals.jsonl")
    }
    ran = {n for n, o in run.outcomes.items() if o == "passed"}
    assert "suites/a/capitals.jsonl::[gate]" in ran
    assert "suites/rivers.jsonl::[gate]" in ran
    assert not any(n.startswith("suites/b/") for n in run.outcomes)
    assert run.ret == pytest.ExitCode.TESTS_FAILED  # a collection error fails the run; the other suites ran
    assert_no_traceback(run.output)


def test_predict_refuses_two_suites_of_one_name(project: Project) -> None:
    two_suites_named_capitals(project)
    before = project.files()

    result = project.cli("predict", "fake:models/old.json", "suites", "-o", "baseline.jsonl")

    assert result.exit_code == 1
    assert result.error_lines() == ["Error: " + CLASH.format(first="suites/a/capitals.jsonl")]
    assert project.files() == before


def test_validate_lists_two_suites_of_one_name(project: Project) -> None:
    two_suites_named_capitals(project)

    result = project.cli("validate", "suites")

    assert result.exit_code == 1
    assert "error " + CLASH.format(first="suites/a/capitals.jsonl") in result.error_lines()


WAIVERS = {
    "a suite the run does not have": (
        'suite = "capital"\nid = "cap0"',
        "waiver capital::cap0 matches no suite of this run (its suites: capitals, rivers); check the suite name "
        "in the waiver file",
    ),
    "an id the suite does not have": (
        'suite = "capitals"\nid = "cap9"',
        "waiver capitals::cap9 matches no instance of {p}/suites/capitals.jsonl; check the id in the waiver file",
    ),
}


@pytest.mark.parametrize("name", list(WAIVERS))
def test_a_waiver_that_matches_nothing_is_reported(project: Project, name: str) -> None:
    entry, line = WAIVERS[name]
    project.write("waivers.toml", f'[[waiver]]\n{entry}\nreason = "flaky"\n')

    run = project.pytest("--muscle-waivers=waivers.toml")

    assert run.outcomes == passing("capitals", "rivers")
    assert line.format(p=project.path) in run.stdout


def test_a_waiver_that_matches_is_not_reported(project: Project) -> None:
    project.write("waivers.toml", '[[waiver]]\nsuite = "capitals"\nid = "cap0"\nreason = "known"\n')

    run = project.pytest("--muscle-waivers=waivers.toml")

    assert "matches no" not in run.stdout


def test_a_settings_table_that_names_no_suite_is_reported(project: Project) -> None:
    # A typo in the table's name configures nothing: the suite keeps the default budget, which nothing said.
    project.write("pyproject.toml", "[tool.muscle-guard.suites.capital]\nmax_nfr = 0.5\n")

    run = project.pytest()

    assert run.outcomes == passing("capitals", "rivers")
    assert (
        f"{project.path / 'pyproject.toml'}: [tool.muscle-guard.suites.capital] matches no suite (suites: capitals, "
        "rivers); check the name: a suite is named by its file name without .jsonl"
    ) in run.stdout


def test_a_project_without_a_suites_folder_lists_only_its_real_suites(project: Project) -> None:
    # The suite lives at the root and the default suites/ folder does not exist: it is no suite named "suites".
    (project.path / "suites/capitals.jsonl").rename(project.path / "capitals.jsonl")
    (project.path / "suites/rivers.jsonl").unlink()
    (project.path / "suites").rmdir()
    project.write("pyproject.toml", "[tool.muscle-guard.suites.capital]\nmax_nfr = 0.5\n")

    run = project.pytest("capitals.jsonl")

    assert (
        f"{project.path / 'pyproject.toml'}: [tool.muscle-guard.suites.capital] matches no suite (suites: "
        "capitals); check the name"
    ) in run.stdout

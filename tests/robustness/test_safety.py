"""Safety: no network, safetensors only, no remote code, suite text is data, the user's umask, no symlinks followed.

Each property is checked where a user would be hurt by its absence: a full check runs with every socket
refused; pickle files and custom code placed next to a model are never executed; prompts that look like
templates or code stay literal all the way to the report; what we write has the user's permissions; a link
planted in the cache never leads a write outside it.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from muscle_guard.core.backend import RunOptions
from muscle_guard.core.config import SuiteSettings
from tests.robustness.conftest import SUBPROCESS_ENV, assert_no_traceback, good_lines, passing

if TYPE_CHECKING:
    from tests.robustness.conftest import Project, TinyModels

# --- no network -------------------------------------------------------------------------------------------------------

NO_NETWORK = '''
"""Loaded at interpreter start (sitecustomize): every attempt to reach the network is logged and refused."""
import os
import socket

_LOG = os.environ["NETWORK_LOG"]


def _refuse(what, *args, **kwargs):
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(f"{what} {args[:2]!r}\\n")
    raise OSError(101, "network access blocked by the test")


_connect = socket.socket.connect


def _guarded_connect(self, address, *args):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _refuse("connect", address)
    return _connect(self, address, *args)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect
socket.create_connection = lambda *a, **k: _refuse("create_connection", *a)
socket.getaddrinfo = lambda *a, **k: _refuse("getaddrinfo", *a)
socket.gethostbyname = lambda *a, **k: _refuse("gethostbyname", *a)
with open(_LOG, "a", encoding="utf-8"):
    pass  # armed: the log exists
'''


@pytest.fixture
def offline_env(tmp_path: Path) -> dict[str, str]:
    """A subprocess environment whose interpreter refuses (and logs) every network connection; the hub's own
    offline switches are unset, so only our code's restraint keeps it off the network."""
    site = tmp_path / "no-network"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NO_NETWORK, encoding="utf-8")
    env = {k: v for k, v in SUBPROCESS_ENV.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env["PYTHONPATH"] = f"{site}{os.pathsep}{env['PYTHONPATH']}"
    env["NETWORK_LOG"] = str(tmp_path / "network.log")
    return env


def test_the_socket_guard_really_refuses(offline_env: dict[str, str], tmp_path: Path) -> None:
    code = "import urllib.request; urllib.request.urlopen('http://example.com', timeout=5)"
    result = subprocess.run([sys.executable, "-c", code], env=offline_env, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "example.com" in (tmp_path / "network.log").read_text(encoding="utf-8")


def test_a_full_check_on_transformers_models_makes_no_network_call(
    project: Project, tiny: TinyModels, offline_env: dict[str, str], tmp_path: Path
) -> None:
    project.write_lines("suites/math.jsonl", [{"id": "m1", "prompt": "one plus one is", "answer": "two"}])
    project.write("pyproject.toml", "[tool.muscle-guard]\nmax_nfr = 1.0\nmax_new_tokens = 3\n")  # random models

    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "suites",
            f"--muscle-old={tiny.lm_adapter}", f"--muscle-new={tiny.other_lm_adapter}", "--muscle-report=report.json",
        ],
        cwd=project.path, env=offline_env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "network.log").read_text(encoding="utf-8") == ""  # armed, and never triggered
    report = json.loads((project.path / "report.json").read_text(encoding="utf-8"))
    assert sorted(s["name"] for s in report["suites"]) == ["capitals", "math", "rivers"]


# --- safe loading -----------------------------------------------------------------------------------------------------


class Trap:
    """Pickles to a call of os.system: loading the file runs the command."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


def test_the_safety_switches_are_off_by_default() -> None:
    from muscle_guard.pytest_plugin.options import MuscleOptions

    assert (RunOptions().trust_remote_code, RunOptions().allow_pickle) == (False, False)
    assert (MuscleOptions().trust_remote_code, MuscleOptions().allow_pickle) == (False, False)


def test_pickle_files_next_to_safetensors_are_never_loaded(project: Project, tiny: TinyModels) -> None:
    marker = project.path / "pwned"
    base = shutil.copytree(tiny.lm, project.path / "models/base")
    adapter = shutil.copytree(tiny.lm_adapter, project.path / "models/adapter")
    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = str(base)
    (adapter / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    for trap in (base / "pytorch_model.bin", adapter / "adapter_model.bin", base / "training_args.bin"):
        trap.write_bytes(pickle.dumps(Trap(f"touch {marker}")))

    result = project.cli("predict", "models/adapter", "suites", "-o", "baseline.jsonl")

    assert result.exit_code == 0, result.output
    assert not marker.exists()


def test_custom_model_code_is_never_imported(project: Project, tiny: TinyModels) -> None:
    marker = project.path / "pwned"
    model = shutil.copytree(tiny.lm, project.path / "models/custom")
    (model / "modeling_custom.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n")
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    config["auto_map"] = {"AutoConfig": "modeling_custom.Config", "AutoModelForCausalLM": "modeling_custom.LM"}
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")

    run = project.pytest(new="models/custom")
    result = project.cli("predict", "models/custom", "suites", "-o", "baseline.jsonl")

    message = (
        f"{model}/config.json: the model needs custom code from its directory (auto_map: AutoConfig, "
        "AutoModelForCausalLM); review that code, then pass --trust-remote-code"
    )
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in run.stderr.splitlines() if line.strip()] == [f"ERROR: --muscle-new: {message}"]
    assert result.error_lines() == ["Error: " + message]
    assert not marker.exists()


# --- suite text is data -------------------------------------------------------------------------------------------------


def test_prompts_that_look_like_code_or_templates_stay_literal(project: Project, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    prompts = {
        "fstring": f"{{__import__('os').system('touch {marker}')}}",
        "jinja": "{{7*7}} {% for x in range(3) %}{{x}}{% endfor %}",
        "shell": "${HOME} $(touch " + str(marker) + ") `id`",
        "format": "{prompt} {0} %(x)s %s {.__class__}",
        "html": "<script>alert(1)</script>",
    }
    template = "Q: {prompt}\nA:"
    project.write("pyproject.toml", '[tool.muscle-guard]\nprompt_template = "Q: {prompt}\\nA:"\nmax_nfr = 1.0\n')
    lines = [{"id": k, "prompt": p, "choices": [" no", " yes"], "answer": 1} for k, p in prompts.items()]
    project.write_lines("suites/tricky.jsonl", lines)
    # The models pick the right answer only when shown exactly the literal rendering; the new one flips "html".
    rendered = {template.replace("{prompt}", p): 1 for p in prompts.values()}
    project.write("models/old.json", json.dumps({"answers": rendered}))
    project.write("models/new.json", json.dumps({"answers": {**rendered, rendered_html(template): 0}}))

    run = project.pytest("suites/tricky.jsonl", "--muscle-report=report.json")
    html = project.cli("report", "report.json", "-o", "report.html")

    assert SuiteSettings(prompt_template=template).render(prompts["format"]) == "Q: " + prompts["format"] + "\nA:"
    outcomes = {o["id"]: o for o in json.loads((project.path / "report.json").read_text())["suites"][0]["outcomes"]}
    assert {k: o["outcome"] for k, o in outcomes.items()} == {
        **dict.fromkeys(prompts, "both_right"),
        "html": "negative_flip",
    }
    assert {k: o["prompt"] for k, o in outcomes.items()} == {
        k: template.replace("{prompt}", p) for k, p in prompts.items()
    }
    assert run.outcomes["suites/tricky.jsonl::html"] == "xfailed"
    assert html.exit_code == 0, html.output
    page = (project.path / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)</script>" not in page
    assert not marker.exists()
    assert_no_traceback(run.output)


def rendered_html(template: str) -> str:
    return template.replace("{prompt}", "<script>alert(1)</script>")


# --- permissions: the user's umask ------------------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o077, 0o022], ids=["umask-077", "umask-022"])
def test_everything_written_has_the_users_permissions(project: Project, umask: int) -> None:
    def with_umask() -> None:
        os.umask(umask)

    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "suites",
            "--muscle-old=fake:models/old.json", "--muscle-new=fake:models/new.json", "--muscle-cache-dir=out/cache",
            "--muscle-report=out/report.json", "--muscle-markdown=out/summary.md",
            "--muscle-update-baseline=out/baseline.jsonl",
        ],
        cwd=project.path, env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=120, check=False,
        preexec_fn=with_umask,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert_modes(project.path / "out", umask, expected_files=7)  # report, summary, baseline, 2 cache files + locks


def test_the_weight_hash_cache_has_the_users_permissions(project: Project, tiny: TinyModels) -> None:
    previous = os.umask(0o022)
    try:
        result = project.cli(
            "predict", str(tiny.lm_adapter), "suites", "-o", "out/baseline.jsonl", "--cache-dir", "out/cache"
        )
    finally:
        os.umask(previous)

    assert result.exit_code == 0, result.output
    assert (project.path / "out/cache/hashes/sha256-cache.json").is_file()
    assert_modes(project.path / "out", 0o022)


def assert_modes(root: Path, umask: int, expected_files: int | None = None) -> None:
    files = [p for p in root.rglob("*") if p.is_file()]
    wrong = {
        str(p.relative_to(root)): oct(stat.S_IMODE(p.stat().st_mode))
        for p in [root, *root.rglob("*")]
        if stat.S_IMODE(p.stat().st_mode) != (0o777 if p.is_dir() else 0o666) & ~umask
    }
    assert wrong == {}
    if expected_files is not None:
        assert len(files) == expected_files, files


# --- symlinks ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("planted", ["cache file", "model directory", "lock file"])
def test_a_link_planted_in_the_cache_is_refused_and_never_followed(
    project: Project, tmp_path: Path, planted: str
) -> None:
    assert project.pytest("--muscle-cache-dir=cache").outcomes == passing("capitals", "rivers")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me\n", encoding="utf-8")
    cache_file = sorted((project.path / "cache").rglob("capitals-*.jsonl"))[0]
    (victim / cache_file.name).write_text("keep me too\n", encoding="utf-8")
    (victim / (cache_file.name + ".lock")).write_text("and me\n", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in victim.iterdir()}
    project.teach(good_lines("cap"))  # the same answers: the same model
    if planted == "cache file":
        cache_file.unlink()
        cache_file.symlink_to(victim / cache_file.name)
    elif planted == "model directory":
        shutil.rmtree(cache_file.parent)
        cache_file.parent.symlink_to(victim, target_is_directory=True)
    else:
        lock = cache_file.with_name(cache_file.name + ".lock")
        lock.unlink(missing_ok=True)
        lock.symlink_to(victim / lock.name)

    run = project.pytest("--muscle-cache-dir=cache")

    failures = {run.longrepr(n) for n, outcome in run.outcomes.items() if outcome == "failed"}
    assert len(failures) == 1
    (failure,) = failures
    assert "symlink inside the cache directory; remove it (the cache never follows links)" in failure
    assert {p.name: p.read_bytes() for p in victim.iterdir()} == before
    assert_no_traceback(run.output)


def test_a_report_path_that_is_a_link_is_replaced_not_written_through(project: Project, tmp_path: Path) -> None:
    victim = tmp_path / "precious.json"
    victim.write_text("keep me\n", encoding="utf-8")
    (project.path / "report.json").symlink_to(victim)

    run = project.pytest("--muscle-report=report.json")

    assert run.ret == 0
    assert victim.read_text(encoding="utf-8") == "keep me\n"
    assert not (project.path / "report.json").is_symlink()
    assert json.loads((project.path / "report.json").read_text(encoding="utf-8"))["suites"]

"""`python -m demo.team` (what `make demo-team` runs): a team's upgrade gated in one pytest run.

The bases of `make demo` (paraphrase-MiniLM-L3-v2 → all-MiniLM-L6-v2, classifier heads) carry two task adapters
each, trained with the demo's recipe on real data: Rotten Tomatoes reviews and sarcastic headlines. The project
written to `.muscle-out/team/` (its suites/ folder holds copies of the two suites) names the two (old, new) adapter
pairs in its pyproject.toml, each gating its own suite with its own budget; one `pytest` there gates both, loading each base once (the adapters share it), and
writes one report that carries the pair of every suite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from demo import assets
from demo.adapters import AdapterRecipe, build_classifier_base, train_classifier_adapter
from demo.build_suites import Sizes, build
from demo.run import CACHE, DEMO, _banner, _bin, _run
from muscle_guard.core.progress import message
from muscle_guard.core.suite import load_suite

OUT = Path(".muscle-out") / "team"
TASKS = {"rotten_tomatoes": ("reviews", ("rotten", "fresh")), "sarcasm": ("headlines", ("literal", "sarcastic"))}
BUDGET = 0.07  # as `make demo`'s


def pyproject(pairs: dict[str, tuple[str, str]]) -> str:
    """The team project's configuration: one suite table and one pair table per task (its suites are in its
    own suites/ folder, the default)."""
    # The pytest table makes this folder pytest's rootdir, where the plugin reads [tool.muscle-guard].
    lines = ["[tool.pytest.ini_options]", "", "[tool.muscle-guard]", 'report = "report.json"', ""]
    for task, (pair, labels) in TASKS.items():
        old, new = pairs[task]
        lines += [
            f"[tool.muscle-guard.suites.{task}]",
            "labels = [" + ", ".join(f'"{label}"' for label in labels) + "]",
            f"max_nfr = {BUDGET}",
            "",
            f"[tool.muscle-guard.pairs.{pair}]",
            f'old = "{old}"',
            f'new = "{new}"',
            f'suites = ["{task}"]',
            "",
        ]
    return "\n".join(lines)


def main() -> int:
    recipe = AdapterRecipe()
    _banner("1/2 models, data and two task adapters per base")
    l6 = assets.model_dir("minilm-l6")
    l3 = assets.model_dir("minilm-l3", CACHE / "assets")
    old_base = build_classifier_base(l3, l6, DEMO / "bases" / "minilm-l3-cls", 2, recipe.seed)
    new_base = build_classifier_base(l6, l6, DEMO / "bases" / "minilm-l6-cls", 2, recipe.seed)
    data = DEMO / "data"
    pairs = {}
    for task in TASKS:
        if not (data / task / "adapter_train.jsonl").is_file():
            build(DEMO / "suites-rebuilt", data, DEMO / "wheels", Sizes(), 0, (task,))
        train = load_suite(data / task / "adapter_train.jsonl")
        old = train_classifier_adapter(old_base, train, DEMO / "adapters" / f"old-{task}", recipe, f"old {task}")
        new = train_classifier_adapter(new_base, train, DEMO / "adapters" / f"new-{task}", recipe, f"new {task}")
        # The demo's adapters record their base relative to the repository; the team project lives elsewhere, so
        # each reference names its base explicitly.
        pairs[task] = (
            f"base={old_base.resolve()},adapter={old.resolve()}",
            f"base={new_base.resolve()},adapter={new.resolve()}",
        )
    (OUT / "suites").mkdir(parents=True, exist_ok=True)
    for task in TASKS:
        shutil.copyfile(Path("suites") / f"{task}.jsonl", OUT / "suites" / f"{task}.jsonl")
    (OUT / "pyproject.toml").write_text(pyproject(pairs), encoding="utf-8")
    message(f"wrote {OUT / 'pyproject.toml'}:\n{(OUT / 'pyproject.toml').read_text(encoding='utf-8')}")

    _banner("2/2 one pytest run gates both pairs")
    shown = f"(cd {OUT} && pytest -p no:cacheprovider -q --tb=no)"
    message(f"$ {shown}")
    code = subprocess.call(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--no-header", "--tb=no", "-rN"], cwd=OUT
    )
    if code not in (0, 1):
        raise SystemExit(f"demo: `{shown}` exited with {code}")
    _run([_bin("muscle-guard"), "report", str(OUT / "report.json"), "-o", str(OUT / "report.html")])
    message(f"gate exit code {code} (1: a pair's suite is over its budget); report in {OUT}/report.json")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    raise SystemExit(main())

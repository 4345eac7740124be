"""`fix --aim budget` and `--select average` on the tiny classifier pair: what is shipped, and when nothing is.

Which candidate wins is an effect of the data and the CPU; these tests assert only the decisions, which hold
whatever the numbers are: the shipped adapter is the chosen candidate's, the chosen one meets the aim and no
candidate that meets it is more accurate, and an impossible gate ships nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from muscle_guard.cli import app
from muscle_guard.core.errors import FixError
from muscle_guard.core.report import read_report
from muscle_guard.fix.averaging import mean_weights
from tests.fix.conftest import Pair, RunCli
from tests.fix.settings import TINY


def pyproject(tmp_path: Path, gates: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(f"[tool.muscle-guard.suites.heldout]\n{gates}\n", encoding="utf-8")
    return path


def aim(pair: Pair, run_cli: RunCli, tmp_path: Path, gates: str, *extra: str) -> tuple[object, Path]:
    out = tmp_path / "fixed"
    result = run_cli(
        "--old", str(pair.old), "--new", str(pair.new), "--train", str(pair.train), "--out", str(out),
        "--suite", str(pair.heldout), "--aim", "budget", "--ensemble-weights", "0.5,1", "--epochs", "2",
        "--pyproject", str(pyproject(tmp_path, gates)), *TINY, *extra,
    )  # fmt: skip
    return result, out


def test_aim_budget_ships_the_most_accurate_candidate_that_meets_the_gate(
    classifier_pair: Pair, run_cli: RunCli, tmp_path: Path
) -> None:
    result, out = aim(classifier_pair, run_cli, tmp_path, "max_nfr = 0.5")
    record = json.loads((out / "muscle_fix.json").read_text())
    search = record["aim"]
    labels = [p["label"] for p in search["points"]]
    # The reference rows (both models served together too: the ceiling), then the candidates, trained with CE 0.5.
    assert labels == ["old model", "new model", "old+new averaged (2 models)", "w=0.5 ce=0.5", "w=1 ce=0.5"]
    target = search["budget"]["target_val_nfr"]
    assert target == pytest.approx(0.5 - search["budget"]["margin"])
    within = [p for p in search["points"][3:] if p["nfr"] <= target]
    assert within  # 50% minus a few points is met by any student of this pair
    best = max(within, key=lambda p: (p["acc"], -p["nfr"], p["ensemble_weight"]))  # ties: nearer the old model
    assert search["chosen"] == best["label"]
    assert record["strategy"]["used"] == "ensemble"
    assert record["config"]["ensemble_weight"] == best["ensemble_weight"]
    assert record["shipped"] == "average of epochs 2-2" or record["shipped"] == "epoch 2"
    # OUT holds the chosen candidate's averaged adapter, byte for byte.
    chosen_dir = out / "candidates" / f"w{best['ensemble_weight']:g}-ce0.5" / "checkpoints" / "average"
    ours, theirs = load_file(out / "adapter_model.safetensors"), load_file(chosen_dir / "adapter_model.safetensors")
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert result.exit_code == 0, result.stderr  # a 50% budget passes on the held-out suite too
    assert "fix --aim budget: validation" in result.stdout
    assert "yes: shipped" in result.stdout
    page = (out / "aim.html").read_text()  # the same table and the accuracy-vs-NFR plot
    assert "<svg" in page
    assert f"Shipped: <b>{best['label']}</b>" in page
    # The run report holds the same frontier, and `muscle-guard report` draws it beside the before/after.
    report = read_report(out / "fix_report.json")
    assert report.fix is not None
    assert report.fix["frontier"]["chosen"] == best["label"]
    html = CliRunner().invoke(app, ["report", str(out / "fix_report.json"), "--format", "html"]).stdout
    assert "Validation frontier (--aim budget)" in html


def test_aim_budget_ships_nothing_when_no_candidate_meets_the_gate(
    classifier_pair: Pair, run_cli: RunCli, tmp_path: Path
) -> None:
    # +100 accuracy points over the new model: no candidate can, so nothing may land in --out.
    result, out = aim(classifier_pair, run_cli, tmp_path, "max_nfr = 0.5\nmin_accuracy_delta = 1.0")
    assert result.exit_code == 1
    assert "no candidate met" in result.stderr
    assert "Nothing was shipped" in result.stderr
    assert not (out / "adapter_model.safetensors").exists()
    assert not (out / "fix_report.json").exists()
    record = json.loads((out / "muscle_fix.json").read_text())
    assert record["shipped"] is None
    assert record["aim"]["chosen"] is None
    assert sorted(p.name for p in (out / "candidates").iterdir()) == ["w0.5-ce0.5", "w1-ce0.5"]
    assert "Nothing shipped." in (out / "aim.html").read_text()


def test_select_average_ships_the_mean_of_the_last_half_of_the_epochs(
    classifier_pair: Pair, run_cli: RunCli, tmp_path: Path
) -> None:
    out = tmp_path / "fixed"
    result = run_cli(
        "--old", str(classifier_pair.old), "--new", str(classifier_pair.new), "--train", str(classifier_pair.train),
        "--out", str(out), "--epochs", "3", "--select", "average", *TINY,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    record = json.loads((out / "muscle_fix.json").read_text())
    assert record["shipped"] == "average of epochs 2-3"
    assert record["selected_epoch"] is None
    assert {"val_nfr", "val_acc"} <= set(record["shipped_metrics"])
    ckpts = out / "checkpoints"
    expected = mean_weights([ckpts / f"epoch-{e}" / "adapter_model.safetensors" for e in (2, 3)])
    ours = load_file(out / "adapter_model.safetensors")
    assert ours.keys() == expected.keys()
    assert all(torch.allclose(ours[k], expected[k], atol=1e-7) for k in ours)
    assert not torch.equal(
        ours[next(iter(ours))], load_file(ckpts / "epoch-3" / "adapter_model.safetensors")[next(iter(ours))]
    )


def test_mean_weights_is_the_entrywise_mean_and_refuses_other_tensors(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"a": torch.tensor([1.0, 2.0]), "b": torch.tensor([[0.0]])}, str(tmp_path / "1.safetensors"))
    save_file({"a": torch.tensor([3.0, 6.0]), "b": torch.tensor([[1.0]])}, str(tmp_path / "2.safetensors"))
    mean = mean_weights([tmp_path / "1.safetensors", tmp_path / "2.safetensors"])
    assert torch.equal(mean["a"], torch.tensor([2.0, 4.0]))
    assert torch.equal(mean["b"], torch.tensor([[0.5]]))
    assert mean["a"].dtype == torch.float32
    save_file({"c": torch.tensor([1.0])}, str(tmp_path / "3.safetensors"))
    with pytest.raises(FixError, match=r"3\.safetensors: other tensors"):
        mean_weights([tmp_path / "1.safetensors", tmp_path / "3.safetensors"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ("--strategy", "focal"),
            "--aim budget searches the ensemble's weights; it trains --strategy ensemble, not focal",
        ),
        (("--ensemble-weights", "0.5,x"), "--ensemble-weights: '0.5,x' is not a comma-separated list"),
    ],
)
def test_aim_budget_refusals(
    classifier_pair: Pair, run_cli: RunCli, tmp_path: Path, extra: tuple[str, ...], message: str
) -> None:
    result, out = aim(classifier_pair, run_cli, tmp_path, "max_nfr = 0.5", *extra)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (out / "candidates").exists()


def test_an_interrupted_aim_run_resumes_to_the_same_choice(
    classifier_pair: Pair, run_cli: RunCli, tmp_path: Path
) -> None:
    from muscle_guard.cli.fix import run_request
    from muscle_guard.core.backend import RunOptions
    from muscle_guard.fix.aim import Aim
    from muscle_guard.fix.config import TrainConfig
    from muscle_guard.fix.request import FixRequest

    calls: list[int] = []

    def stop_in_the_second_candidate(epoch: int, metrics: dict[str, object]) -> None:
        calls.append(epoch)
        if len(calls) == 3:  # candidate 2, epoch 1 (2 epochs each)
            raise KeyboardInterrupt

    def request(out: Path, resume: bool = False, callbacks: tuple = ()) -> FixRequest:  # type: ignore[type-arg]
        return FixRequest(
            old=str(classifier_pair.old), new=str(classifier_pair.new), train=classifier_pair.train, out=out,
            config=TrainConfig(epochs=2, lr=1e-2, batch_size=16, select="average"), suites=(classifier_pair.heldout,),
            options=RunOptions(device="cpu", progress=False), pyproject=pyproject(tmp_path, "max_nfr = 0.5"),
            aim=Aim.BUDGET, ensemble_weights=(0.5, 1.0), resume=resume, callbacks=callbacks,
        )  # fmt: skip

    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert run_request(request(whole), check=True) == 0
    assert run_request(request(cut, callbacks=(stop_in_the_second_candidate,)), check=True) == 130
    assert not (cut / "adapter_model.safetensors").exists()
    assert run_request(request(cut, resume=True), check=True) == 0
    a, b = (json.loads((d / "muscle_fix.json").read_text())["aim"] for d in (whole, cut))
    assert a["points"] == b["points"]
    assert a["chosen"] == b["chosen"]

"""Loading: references, safety switches, adapter/base checks and fingerprints, with one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from muscle_guard.backends.hf import load
from muscle_guard.backends.hf.backend import HFBackend
from muscle_guard.backends.hf.fingerprint import CACHE_FILE
from muscle_guard.core.backend import ChoiceRequest, RunOptions
from muscle_guard.core.errors import BackendError, ConfigError, ModelRefError
from muscle_guard.core.modelref import parse_model_ref
from muscle_guard.core.registry import load_backend

from .conftest import Tiny

QUIET = RunOptions(device="cpu", progress=False)
PROBE = [ChoiceRequest("Is fire hot? Answer:", (" yes", " no maybe"))]


def hf(raw: str, options: RunOptions = QUIET) -> HFBackend:
    return load(parse_model_ref(raw), options)


def test_adapter_dir_base_plus_adapter_and_hf_scheme_agree(tiny: Tiny) -> None:
    by_dir = hf(str(tiny.lm_adapter))
    explicit = hf(f"base={tiny.lm},adapter={tiny.lm_adapter}")
    registry = load_backend(parse_model_ref(f"hf:{tiny.lm_adapter}"), QUIET)
    assert by_dir.info.fingerprint == explicit.info.fingerprint == registry.info.fingerprint
    assert by_dir.score_choices(PROBE) == explicit.score_choices(PROBE)
    assert by_dir.info.details["base"] == str(tiny.lm.resolve())
    assert by_dir.info.details["device"] == "cpu"
    assert by_dir.info.details["dtype"] == "float32"


@pytest.mark.parametrize("which", ["noop_lm_adapter", "noop_classifier_adapter"])
def test_adapter_that_changes_nothing_is_refused(tiny: Tiny, which: str) -> None:
    backend = hf(str(getattr(tiny, which)))  # its files are fine: the check runs when the weights load
    with pytest.raises(BackendError, match=r"does not change the outputs of base .*LoRA B weights are zero"):
        _ = backend.loaded
    with pytest.raises(BackendError, match=r"does not change the outputs"):  # and again, without a second load
        _ = backend.loaded


def test_explicit_base_with_other_shapes_is_refused_naming_both(tiny: Tiny) -> None:
    with pytest.raises(ModelRefError) as caught:
        hf(f"base={tiny.wide_lm},adapter={tiny.lm_adapter}")
    message = str(caught.value)
    assert str(tiny.lm_adapter.resolve()) in message
    assert str(tiny.wide_lm.resolve()) in message
    assert "hidden_size=32" in message
    assert "hidden_size=48" in message


def test_explicit_base_with_other_weights_is_refused(tiny: Tiny) -> None:
    with pytest.raises(ModelRefError, match=r"trained on base .* but base .*lm-other has different weights"):
        hf(f"base={tiny.other_lm},adapter={tiny.lm_adapter}")


def test_copied_base_is_the_same_model(tiny: Tiny, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(tiny.lm, tmp_path / "copy-of-base"))
    moved = hf(f"base={copy},adapter={tiny.lm_adapter}")
    assert moved.info.fingerprint == hf(str(tiny.lm_adapter)).info.fingerprint


def _adapter_on_missing_base(tiny: Tiny, tmp_path: Path) -> Path:
    adapter = Path(shutil.copytree(tiny.lm_adapter, tmp_path / "adapter"))
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "/nowhere/trained-elsewhere"
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    return adapter


def test_unverifiable_base_that_does_not_fit_is_refused(tiny: Tiny, tmp_path: Path) -> None:
    adapter = _adapter_on_missing_base(tiny, tmp_path)
    backend = hf(f"base={tiny.wide_lm},adapter={adapter}")  # no recorded base to compare configs with
    with pytest.raises(ModelRefError, match=r"adapter .* does not fit base .*lm-wide"):
        _ = backend.loaded
    with pytest.raises(
        ModelRefError, match=r"/nowhere/trained-elsewhere \(recorded in .*\) does not exist; pass the base"
    ):
        hf(str(adapter))


def _pickled(source: Path, target: Path, weights: str, pickle_name: str) -> Path:
    from safetensors.torch import load_file

    shutil.copytree(source, target)
    torch.save(load_file(str(target / weights)), target / pickle_name)
    (target / weights).unlink()
    return target


def test_pickle_only_base_needs_allow_pickle(tiny: Tiny, tmp_path: Path) -> None:
    base = _pickled(tiny.lm, tmp_path / "base", "model.safetensors", "pytorch_model.bin")
    with pytest.raises(
        ModelRefError, match=r"only pickle weights \(pytorch_model.bin\).*convert them to safetensors.*--allow-pickle"
    ):
        hf(str(base))
    allowed = hf(str(base), RunOptions(device="cpu", progress=False, allow_pickle=True))
    assert allowed.score_choices(PROBE) == hf(str(tiny.lm)).score_choices(PROBE)


def test_pickle_only_adapter_needs_allow_pickle(tiny: Tiny, tmp_path: Path) -> None:
    adapter = _pickled(tiny.lm_adapter, tmp_path / "adapter", "adapter_model.safetensors", "adapter_model.bin")
    with pytest.raises(ModelRefError, match=r"adapter_model.bin.*--allow-pickle"):
        hf(str(adapter))
    allowed = hf(str(adapter), RunOptions(device="cpu", progress=False, allow_pickle=True))
    assert allowed.score_choices(PROBE) == hf(str(tiny.lm_adapter)).score_choices(PROBE)


def test_custom_code_needs_trust_remote_code(tiny: Tiny, tmp_path: Path) -> None:
    base = Path(shutil.copytree(tiny.lm, tmp_path / "custom"))
    config = json.loads((base / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (base / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelRefError, match=r"custom code .*auto_map: AutoModelForCausalLM.*--trust-remote-code"):
        hf(str(base))


def test_hub_id_offline_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelRefError, match=r"hub is offline .* pass the local directory") as caught:
        hf("muscle-guard-tests/no-such-model")
    assert "\n" not in str(caught.value)


def test_hub_id_unreachable_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants as hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(ModelRefError, match=r"cannot fetch from the Hugging Face hub .* pass the local directory"):
        hf("muscle-guard-tests/no-such-model")


@pytest.mark.parametrize(
    ("options", "match"),
    [(RunOptions(device="tpu"), "device 'tpu' is invalid"), (RunOptions(dtype="int3"), "dtype 'int3' is invalid")],
)
def test_bad_device_or_dtype(tiny: Tiny, options: RunOptions, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        hf(str(tiny.lm), options)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_cuda(tiny: Tiny) -> None:
    with pytest.raises(ConfigError, match="CUDA is not available"):
        hf(str(tiny.lm), RunOptions(device="cuda", progress=False))


def test_fingerprint_follows_content_adapter_and_dtype(tiny: Tiny) -> None:
    base = hf(str(tiny.lm)).info
    adapted = hf(str(tiny.lm_adapter)).info
    bf16 = hf(str(tiny.lm_adapter), RunOptions(device="cpu", progress=False, dtype="bfloat16")).info
    assert len({base.fingerprint, adapted.fingerprint, bf16.fingerprint}) == 3
    assert hf(str(tiny.lm_adapter)).info.fingerprint == adapted.fingerprint
    assert base.details["tokenizer_fingerprint"] == adapted.details["tokenizer_fingerprint"]
    assert bf16.details["dtype"] == "bfloat16"


@pytest.mark.parametrize("upgraded", ["muscle_guard", "torch", "transformers", "peft"])
def test_fingerprint_follows_the_software_that_computes(
    tiny: Tiny, monkeypatch: pytest.MonkeyPatch, upgraded: str
) -> None:
    """Cached predictions are keyed on the model's fingerprint: an upgrade that may change what the same files
    compute (muscle-guard's scoring, torch's kernels, transformers' model code, peft's adapters) must miss."""
    import importlib.metadata

    import muscle_guard

    before = hf(str(tiny.lm_adapter)).info
    if upgraded == "muscle_guard":
        monkeypatch.setattr(muscle_guard, "__version__", "99.0.0")
    else:
        real = importlib.metadata.version
        monkeypatch.setattr(importlib.metadata, "version", lambda name: "99.0.0" if name == upgraded else real(name))
    after = hf(str(tiny.lm_adapter)).info
    assert after.fingerprint != before.fingerprint
    assert f"{upgraded} 99.0.0" in after.details["software"]
    monkeypatch.undo()
    assert hf(str(tiny.lm_adapter)).info.fingerprint == before.fingerprint


def test_hash_cache_is_used_when_configured(tiny: Tiny, tmp_path: Path) -> None:
    options = RunOptions(device="cpu", progress=False, extra={"hash_cache_dir": str(tmp_path)})
    first = hf(str(tiny.lm_adapter), options).info.fingerprint
    cache = json.loads((tmp_path / CACHE_FILE).read_text())
    weights = str((tiny.lm / "model.safetensors").resolve())
    assert weights in cache
    # A cached hash is trusted while size and mtime match: tampering with it shows it was used.
    cache[weights]["sha256"] = "0" * 64
    (tmp_path / CACHE_FILE).write_text(json.dumps(cache))
    assert hf(str(tiny.lm_adapter), options).info.fingerprint != first
    assert hf(str(tiny.lm_adapter)).info.fingerprint == first


def test_weights_rewritten_with_their_old_size_and_mtime_are_hashed_again(tiny: Tiny, tmp_path: Path) -> None:
    # `cp -p` / `rsync -a` rewrite a file and set its old mtime back; a hash remembered by (size, mtime) then
    # served the old model's cached predictions for the new weights.
    import shutil

    from safetensors.torch import load_file, save_file

    model = tmp_path / "model"
    shutil.copytree(tiny.classifier, model)
    options = RunOptions(device="cpu", progress=False, extra={"hash_cache_dir": str(tmp_path / "hashes")})
    first = hf(str(model), options).info.fingerprint
    weights = model / "model.safetensors"
    before = weights.stat()
    tensors = load_file(weights)
    name = next(iter(tensors))
    tensors[name] = tensors[name] + 1.0
    retrained = tmp_path / "retrained.safetensors"
    save_file(tensors, retrained, metadata={"format": "pt"})
    shutil.copy2(retrained, weights)  # what `cp -p` does: new content, then the copy's times
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (weights.stat().st_size, weights.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)

    assert hf(str(model), options).info.fingerprint != first
    assert hf(str(model), options).info.fingerprint == hf(str(model)).info.fingerprint  # equal to a fresh hash


def test_importing_the_backend_package_does_not_import_torch() -> None:
    code = "import sys, muscle_guard.backends.hf; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_load_model_for_training_exposes_trainable_lora(tiny: Tiny) -> None:
    from muscle_guard.backends.hf.loading import load_model

    frozen = load_model(parse_model_ref(str(tiny.lm_adapter)), QUIET)
    trainable = load_model(parse_model_ref(str(tiny.lm_adapter)), QUIET, trainable=True)
    assert not any(p.requires_grad for p in frozen.model.parameters())
    names = [n for n, p in trainable.model.named_parameters() if p.requires_grad]
    assert names
    assert all("lora_" in n for n in names)
    assert trainable.task == "causal"
    assert trainable.adapter_path == str(tiny.lm_adapter.resolve())
    assert trainable.tokenizer.pad_token_id is not None


def test_progress_bar_does_not_change_results(tiny: Tiny, capsys: pytest.CaptureFixture[str]) -> None:
    requests = PROBE * 9
    shown = hf(str(tiny.lm_adapter), RunOptions(device="cpu", batch_size=2, progress=True)).score_choices(requests)
    assert shown == hf(str(tiny.lm_adapter), RunOptions(device="cpu", batch_size=2, progress=False)).score_choices(
        requests
    )
    assert capsys.readouterr().out == ""  # progress goes to stderr only


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_defaults_to_bf16_and_agrees_with_cpu(tiny: Tiny) -> None:
    gpu = hf(str(tiny.lm_adapter), RunOptions(progress=False))
    assert gpu.info.details["device"].startswith("cuda")
    assert gpu.info.details["dtype"] == "bfloat16"
    cpu = hf(str(tiny.lm_adapter)).score_choices(PROBE)
    for one, other in zip(gpu.score_choices(PROBE), cpu, strict=True):
        assert one == pytest.approx(other, abs=0.25)  # bf16 rounding, not exactness


def test_hub_id_served_from_a_complete_local_snapshot_when_offline(
    tiny: Tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants as hub

    commit = "0" * 40
    repo = tmp_path / "hub" / "models--muscle-guard-tests--tiny"
    shutil.copytree(tiny.lm, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    backend = hf("muscle-guard-tests/tiny")
    assert backend.info.fingerprint == hf(str(tiny.lm)).info.fingerprint


def test_adapter_on_a_hub_base_offline_says_how_to_pass_the_base(
    tiny: Tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = Path(shutil.copytree(tiny.lm_adapter, tmp_path / "adapter"))
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "muscle-guard-tests/no-such-base"
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        ModelRefError, match=r"no-such-base: hub id given but the hub is offline.*pass base=DIR,adapter="
    ):
        hf(str(adapter))
    assert hf(f"base={tiny.lm},adapter={adapter}").info.details["base"] == str(tiny.lm.resolve())


def test_device_map_spreads_the_model_and_scores_the_same(tiny: Tiny) -> None:
    # `--device map` is accelerate's device_map="auto": here (no GPU) every layer lands on the CPU.
    spread = hf(str(tiny.lm_adapter), RunOptions(device="map", progress=False))
    (scores,) = spread.score_choices(PROBE)
    ((expected),) = hf(str(tiny.lm_adapter)).score_choices(PROBE)
    assert scores == pytest.approx(expected, abs=1e-5)

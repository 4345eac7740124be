"""Which device `auto` means, and when that is known without importing torch (seconds on every warm gate)."""

from __future__ import annotations

import pytest

from muscle_guard.backends.hf import device
from muscle_guard.backends.hf.device import NVIDIA_TRACES, device_name_for, no_cuda_device

LINUX_WITHOUT_DRIVER = {"environ": {}, "platform": "linux", "exists": lambda path: False}


def with_traces(*present: str) -> dict[str, object]:
    return {"environ": {}, "platform": "linux", "exists": lambda path: path in present}


@pytest.fixture
def cuda_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CUDA build of torch (PyPI's default on Linux: no local version suffix)."""
    monkeypatch.setattr(device, "_torch_version", lambda: "2.13.0")


def test_a_linux_machine_without_an_nvidia_driver_has_no_cuda_device(cuda_build: None) -> None:
    assert no_cuda_device(**LINUX_WITHOUT_DRIVER)  # type: ignore[arg-type]


@pytest.mark.parametrize("trace", NVIDIA_TRACES)
def test_any_trace_of_a_driver_means_asking_torch(cuda_build: None, trace: str) -> None:
    assert not no_cuda_device(**with_traces(trace))  # type: ignore[arg-type]


@pytest.mark.parametrize("hidden", ["", "-1", " "])
def test_cuda_visible_devices_can_hide_every_device(cuda_build: None, hidden: str) -> None:
    everything = with_traces(*NVIDIA_TRACES)
    assert no_cuda_device(**{**everything, "environ": {"CUDA_VISIBLE_DEVICES": hidden}})  # type: ignore[arg-type]
    assert not no_cuda_device(**{**everything, "environ": {"CUDA_VISIBLE_DEVICES": "0"}})  # type: ignore[arg-type]


def test_windows_and_rocm_builds_ask_torch(cuda_build: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not no_cuda_device(environ={}, platform="win32", exists=lambda path: False)
    assert no_cuda_device(environ={}, platform="darwin", exists=lambda path: False)
    monkeypatch.setattr(device, "_torch_version", lambda: "2.13.0+rocm6.4")
    assert not no_cuda_device(**LINUX_WITHOUT_DRIVER)  # type: ignore[arg-type]


def test_auto_resolves_to_the_cpu_without_torch_where_no_gpu_can_be_there(
    cuda_build: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_run(requested: str) -> object:
        raise AssertionError(f"select_device({requested!r}) imports torch")

    monkeypatch.setattr(device, "select_device", must_not_run)
    monkeypatch.setattr(device, "no_cuda_device", lambda: True)
    assert device_name_for("auto") == device_name_for("map") == device_name_for("CPU") == "cpu"

    monkeypatch.setattr(device, "no_cuda_device", lambda: False)
    with pytest.raises(AssertionError, match="select_device"):
        device_name_for("auto")


def test_the_probe_agrees_with_torch_on_this_machine() -> None:
    # Whatever this machine is: where the probe says "no CUDA device", torch must agree.
    if not no_cuda_device():
        pytest.skip("this machine has an NVIDIA driver: only torch can say whether CUDA works")
    import torch

    assert not torch.cuda.is_available()
    assert str(device.select_device("auto")) == "cpu"

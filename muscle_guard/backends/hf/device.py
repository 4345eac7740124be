"""Device and dtype selection from RunOptions: CUDA with bf16 when present, fp32 on CPU."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from muscle_guard.core.errors import ConfigError

if TYPE_CHECKING:
    import torch

DTYPES = ("auto", "float32", "bfloat16", "float16")
_DEVICE = re.compile(r"^(auto|map|cpu|mps|cuda(:\d+)?)$")


def select_device(requested: str) -> torch.device:
    """The torch device for `requested` (auto | map | cpu | cuda | cuda:N | mps); a clear error if absent.

    `map` spreads a model too big for one device over every visible GPU (and CPU memory) with
    accelerate's `device_map="auto"`; inputs then go to the first GPU, or the CPU where there is none.
    """
    import torch

    name = requested.strip().lower()
    if not _DEVICE.match(name):
        raise ConfigError(f"device {requested!r} is invalid; expected auto, map, cpu, cuda, cuda:N or mps")
    if name in ("auto", "map"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {requested!r}: CUDA is not available to torch {torch.__version__}; use --device cpu"
            )
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device {requested!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device 'mps': the Apple MPS backend is not available; use --device cpu")
    return torch.device(name)


def cpu_only_torch() -> bool:
    """True when the installed torch is a CPU-only build (its version ends in `+cpu`): it sees no GPU, and
    knowing that needs no `import torch`, which takes seconds."""
    return _torch_version().endswith("+cpu")


def _torch_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return ""


# What a loaded NVIDIA driver leaves on Linux (also inside containers, whose /proc shows the host's driver), and
# WSL2's GPU device. With none of them, `torch.cuda.is_available()` is False on any CUDA build.
NVIDIA_TRACES = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg")


def no_cuda_device(
    environ: Mapping[str, str] | None = None,
    platform: str | None = None,
    exists: Callable[[str], bool] = os.path.exists,
) -> bool:
    """True when torch certainly sees no CUDA device, known without `import torch`: `CUDA_VISIBLE_DEVICES`
    hides every device, or the machine is a Mac (no CUDA build exists there) or a Linux machine without any
    trace of an NVIDIA driver. False means "ask torch": Windows, ROCm builds (their `torch.cuda` is HIP, on
    other devices), or a driver that is there (which does not mean torch can use it)."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if "+rocm" in _torch_version():
        return False
    if environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return True
    if platform == "darwin":
        return True
    return platform.startswith("linux") and not any(exists(path) for path in NVIDIA_TRACES)


def device_name_for(requested: str) -> str:
    """`str(select_device(requested))`, without importing torch where the answer is known to be the CPU: an
    explicit `cpu`, or `auto`/`map` with a CPU-only torch build or no CUDA device on the machine (a CUDA
    build on a CI runner without a GPU is the common case). A warm gate then imports no torch at all."""
    name = requested.strip().lower()
    if name == "cpu" or (name in ("auto", "map") and (cpu_only_torch() or no_cuda_device())):
        return "cpu"
    return str(select_device(requested))


def dtype_name_for(requested: str, device: str) -> str:
    """`dtype_name(select_dtype(requested, device))`, without importing torch off CUDA."""
    name = requested.strip().lower()
    if name not in DTYPES:
        raise ConfigError(f"dtype {requested!r} is invalid; expected one of {', '.join(DTYPES)}")
    if name != "auto":
        return name
    if not device.startswith("cuda"):
        return "float32"
    import torch

    return dtype_name(select_dtype(requested, torch.device(device)))


def select_dtype(requested: str, device: torch.device) -> torch.dtype:
    """The weights dtype: `auto` is bf16 on CUDA (fp16 where bf16 is unsupported), fp32 elsewhere."""
    import torch

    name = requested.strip().lower()
    if name not in DTYPES:
        raise ConfigError(f"dtype {requested!r} is invalid; expected one of {', '.join(DTYPES)}")
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    dtype: torch.dtype = getattr(torch, name)
    return dtype


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def is_oom(exc: BaseException) -> bool:
    """True for out-of-memory errors of any torch device (CUDA, MPS, CPU allocator)."""
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    message = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in message or "can't allocate memory" in message)


def free_memory(device: torch.device | str) -> None:
    """Return cached blocks to the device after an out-of-memory error, before retrying smaller."""
    import gc

    import torch

    gc.collect()
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()

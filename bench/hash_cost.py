"""What the model-identity rule of the weight-hash cache costs (docs/RELIABILITY.md, "Cache identity").

A remembered sha256 is reused only while the file's (device, inode, size, mtime_ns, ctime_ns) are unchanged;
otherwise the file is read and hashed again. This prints, for a 500 MB file and for the demo's model files
(where `make demo` has built them), the time of a full hash (the anchor: what a changed file costs) and of a
lookup that the stat identity answers (what every warm run pays), and their ratio.

    python bench/hash_cost.py                 # 500 MB scratch file + demo models if present
    python bench/hash_cost.py --size-mb 2000
    python bench/hash_cost.py --files DIR/model.safetensors   # any model files, e.g. the demo's MiniLM weights
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from muscle_guard.backends.hf.fingerprint import FileHasher  # noqa: E402


def timed(fn: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(files: list[Path], cache_dir: Path) -> tuple[float, float]:
    total_cold = 0.0
    for path in files:  # a fresh hasher per file: every hash is a full read (page cache warm after the first)
        total_cold += timed(lambda p=path: FileHasher(None).sha256(p), 3)
    warm = FileHasher(cache_dir)
    for path in files:
        warm.sha256(path)
    warm.save()
    reloaded = FileHasher(cache_dir)  # what the next run does: load the JSON cache, stat each file
    lookup = timed(lambda: [reloaded.sha256(p) for p in files], 20)
    return total_cold, lookup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=500)
    parser.add_argument("--files", nargs="*", type=Path, default=[], help="also measure these model files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hash-cost-") as tmp:
        big = Path(tmp) / "weights.bin"
        with big.open("wb") as f:
            for _ in range(args.size_mb):
                f.write(os.urandom(1 << 20))
        sets = {f"{args.size_mb} MB file": [big]}
        demo = ROOT / ".muscle-cache"
        if demo.is_dir():
            models = sorted(demo.rglob("*.safetensors"))
            if models:
                sets[f"demo cache ({len(models)} safetensors, {sum(p.stat().st_size for p in models) >> 20} MB)"] = (
                    models
                )
        for path in args.files:
            sets[f"{path.name} ({path.stat().st_size >> 20} MB)"] = [path]
        print(f"{'files':<48} {'full hash':>10} {'cached':>10} {'ratio':>8}")
        for name, files in sets.items():
            cold, lookup = measure(files, Path(tmp) / f"cache-{len(name)}")
            print(f"{name:<48} {cold:>9.3f}s {lookup * 1e3:>8.3f}ms {lookup / cold:>8.5f}")


if __name__ == "__main__":
    main()

"""The plugin's cost per instance as suites grow, against plain pytest items of the same count.

    .venv/bin/python bench/scale.py [--sizes 1000,10000,50000] [--runs 3] [--profile N]

For each N it builds, in a temp dir and through the public CLI only, a classification suite of N instances, a
fake old and a fake new model (`fake:` answer tables), and two baselines (`muscle-guard predict`). Then it
times, interleaved and as whole processes, `pytest` gating the two baselines against a plain pytest file with
N trivial parametrized tests (the anchor), in two variants:

- `pass`: the new model never regresses (every instance passes);
- `xfail`: 5% of the instances flip negatively, within a 10% budget (each is an xfail), and the anchor's
  tests xfail the same number of times.

It prints each median wall time, the ratio against the anchor, the peak RSS of the pytest process, and the
sizes of the JSON and HTML reports the gate writes. `--profile N` instead runs the `xfail` gate at N once
under cProfile and prints the top of the profile.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _pytest_timing import timed_pytest

XFAIL_RATE = 0.05
BUDGET = 0.10
CLI = [sys.executable, "-m", "muscle_guard.cli"]


def build(root: Path, n: int, variant: str) -> None:
    """A suite of `n` instances, two fake models, their baselines, and the anchor's test file."""
    suites = root / "suites"
    suites.mkdir(parents=True)
    flips = int(n * XFAIL_RATE) if variant == "xfail" else 0
    lines, old, new = [], {}, {}
    for i in range(n):
        text = f"instance {i} of the scale suite"
        label = i % 2
        lines.append(json.dumps({"id": f"s-{i:06d}", "text": text, "label": label}))
        old[text] = label if i % 4 else 1 - label  # 75% right
        new[text] = 1 - label if i < flips * 4 and i % 4 == 1 else label  # right except `flips` regressions
    (suites / "scale.jsonl").write_text("\n".join(lines) + "\n")
    for name, answers in (("old", old), ("new", new)):
        (root / f"{name}.json").write_text(json.dumps({"answers": answers, "classes": 2}))
        subprocess.run(
            [*CLI, "predict", f"fake:{root / f'{name}.json'}", str(suites), "-o", str(root / f"{name}.baseline.jsonl")],
            check=True,
            capture_output=True,
            cwd=root,
        )
    (root / "pyproject.toml").write_text(f"[tool.muscle-guard]\nmax_nfr = {BUDGET}\n")
    xfails = set(range(0, 4 * flips, 4))
    (root / "test_plain.py").write_text(
        "import pytest\n\n"
        f"XFAILS = set({sorted(xfails)!r})\n\n"
        f"@pytest.mark.parametrize('i', range({n}))\n"
        "def test_item(i):\n"
        "    if i in XFAILS:\n"
        "        pytest.xfail('within budget')\n"
    )


def gate_args(root: Path) -> list[str]:
    return [
        "suites/scale.jsonl",
        f"--muscle-old={root / 'old.baseline.jsonl'}",
        f"--muscle-new={root / 'new.baseline.jsonl'}",
        f"--muscle-report={root / 'out' / 'report.json'}",
    ]


def measure(n: int, variant: str, runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, n, variant)
        plain, gate = [], []
        for _ in range(runs):
            plain.append(timed_pytest(["test_plain.py"], root))
            gate.append(timed_pytest(gate_args(root), root))
        bad = [t.rc for t in plain + gate if t.rc != 0]
        if bad:
            raise SystemExit(f"N={n} {variant}: pytest exited {bad} (expected 0)")
        subprocess.run(
            [*CLI, "report", str(root / "out" / "report.json"), "-f", "html", "-o", str(root / "out" / "report.html")],
            check=True,
            capture_output=True,
            cwd=root,
        )
        p = statistics.median(t.wall for t in plain)
        g = statistics.median(t.wall for t in gate)
        return {
            "plain_s": p,
            "gate_s": g,
            "ratio": g / p,
            "plain_mib": max(t.peak_mib for t in plain),
            "gate_mib": max(t.peak_mib for t in gate),
            "json_kib": (root / "out" / "report.json").stat().st_size / 1024,
            "html_kib": (root / "out" / "report.html").stat().st_size / 1024,
        }


def profile(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, n, "xfail")
        out = root / "profile.out"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "cProfile",
                "-o",
                str(out),
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                *gate_args(root),
            ],
            cwd=root,
            capture_output=True,
        )
        import pstats

        pstats.Stats(str(out)).sort_stats("cumulative").print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--variants", default="pass,xfail")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, help="profile the xfail gate at this N instead")
    parser.add_argument("--save", type=Path, help="also write the results as JSON here")
    parser.add_argument("--plot", type=Path, help="also draw the cost curve (SVG) here")
    parser.add_argument("--plot-from", type=Path, help="only draw --plot from a --save file of an earlier run")
    args = parser.parse_args()
    if args.plot_from:
        if not args.plot:
            parser.error("--plot-from needs --plot")
        plot(json.loads(args.plot_from.read_text(encoding="utf-8")), args.plot)
        return
    os.environ.setdefault("PYTHONHASHSEED", "0")
    if args.profile:
        profile(args.profile)
        return
    print(
        f"{'N':>7} {'variant':<7} {'plain s':>8} {'gate s':>8} {'ratio':>6} {'plain MiB':>9} {'gate MiB':>8} "
        f"{'JSON KiB':>9} {'HTML KiB':>9}"
    )
    ratios: dict[str, list[float]] = {}
    results: list[dict[str, float | str]] = []
    for variant in args.variants.split(","):
        for n in (int(s) for s in args.sizes.split(",")):
            r = measure(n, variant, args.runs)
            results.append({"n": n, "variant": variant, **r})
            ratios.setdefault(variant, []).append(r["ratio"])
            print(
                f"{n:>7} {variant:<7} {r['plain_s']:>8.2f} {r['gate_s']:>8.2f} {r['ratio']:>5.2f}× "
                f"{r['plain_mib']:>9.0f} {r['gate_mib']:>8.0f} {r['json_kib']:>9.0f} {r['html_kib']:>9.0f}",
                flush=True,
            )
    for variant, values in ratios.items():
        print(f"{variant}: ratio spread over N {max(values) / min(values):.2f} (max/min)")
    if args.save:
        args.save.write_text(json.dumps({"runs": args.runs, "results": results}, indent=1) + "\n", encoding="utf-8")
    if args.plot:
        plot({"runs": args.runs, "results": results}, args.plot)


def plot(data: dict[str, object], path: Path) -> None:
    """Seconds against N (log-log) for plain items and the gate, both variants; the ratio on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = data["results"]
    assert isinstance(results, list)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for variant, style in (("pass", "-"), ("xfail", "--")):
        rows = sorted((r for r in results if r["variant"] == variant), key=lambda r: r["n"])
        if not rows:
            continue
        ns = [r["n"] for r in rows]
        left.plot(ns, [r["plain_s"] for r in rows], style, marker="o", color="grey", label=f"plain pytest ({variant})")
        left.plot(
            ns, [r["gate_s"] for r in rows], style, marker="o", color="C0", label=f"muscle-guard gate ({variant})"
        )
        right.plot(ns, [r["ratio"] for r in rows], style, marker="o", color="C0", label=variant)
    left.set(xscale="log", yscale="log", xlabel="instances (N)", ylabel="seconds, whole process", title="wall time")
    right.set(xscale="log", xlabel="instances (N)", ylabel="gate / plain pytest", title="ratio (target ≤ 1.5×)")
    right.axhline(1.5, color="red", linewidth=0.8, linestyle=":")
    right.set_ylim(0, 2)
    for axis in (left, right):
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    fig.suptitle(f"bench/scale.py: gate between two baselines against plain pytest items (median of {data['runs']})")
    fig.tight_layout()
    fig.savefig(path, format="svg")
    plt.close(fig)


if __name__ == "__main__":
    main()

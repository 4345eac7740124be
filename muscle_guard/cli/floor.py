"""`muscle-guard floor OLD OLD-RESEEDED [SUITES]`: the noise floor of each suite, written for the gate and `fix`.

Train the old adapter a second time with another seed (nothing else changed) and give both: what flips between
them is the noise of your own training, the floor under which no upgrade or fix can bring NFR. The floor file
(default ./muscle-floor.json, where gate runs look for it) feeds the reports' floor column and the warnings of a
budget set below it (core/floor.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from muscle_guard.cli.common import reported_errors, stderr, stdout
from muscle_guard.core.backend import RunOptions
from muscle_guard.core.cache import PredictionCache
from muscle_guard.core.checks import refuse_unjudgeable
from muscle_guard.core.config import load_project_config
from muscle_guard.core.errors import ModelRefError
from muscle_guard.core.evaluate import evaluate_suite
from muscle_guard.core.floor import NoiseFloor, SuiteFloor, write_floor
from muscle_guard.core.formatting import percent
from muscle_guard.core.outputs import Place, check_outputs, model_places, places
from muscle_guard.core.pipeline import predict_suite
from muscle_guard.core.run_options import DEFAULT_CACHE_DIR, DEVICE_HELP, DTYPE_HELP, FLOOR_FILE, split_list
from muscle_guard.core.sources import close_source, open_source
from muscle_guard.core.suite import discover_suites, load_suite, refuse_duplicate_names, refuse_empty_suite_paths

Opt = typer.Option


def floor(
    old: Annotated[str, typer.Argument(help="The old model (any model reference form).", show_default=False)],
    reseeded: Annotated[
        str,
        typer.Argument(
            help="The same adapter trained again with another seed, nothing else changed.", show_default=False
        ),
    ],
    suites: Annotated[
        list[Path] | None, typer.Argument(help="Suite files or directories (default: the configured suites).")
    ] = None,
    out: Annotated[Path, Opt("--out", "-o", help="The floor file to write.")] = Path(FLOOR_FILE),
    cache_dir: Annotated[Path, Opt(help="Prediction cache.")] = DEFAULT_CACHE_DIR,
    batch_size: Annotated[int | None, Opt(min=1, help="Model batch size (default: automatic).")] = None,
    device: Annotated[str, Opt(help=DEVICE_HELP + ".", show_default=False)] = "auto",
    dtype: Annotated[str, Opt(help=DTYPE_HELP + ".", show_default=False)] = "auto",
    pyproject: Annotated[Path, Opt(help="pyproject.toml with the tool.muscle-guard table.")] = Path("pyproject.toml"),
    trust_remote_code: Annotated[bool, Opt(help="Allow models that need remote code.")] = False,
    allow_pickle: Annotated[bool, Opt(help="Allow pickle (.bin) weights.")] = False,
) -> None:
    """Measure each suite's noise floor: the flip rate between two trainings of the same old adapter. Gate runs
    read the file (reports show the floor beside NFR and warn of a max_nfr below it), and so does `fix`."""
    with reported_errors():
        project = load_project_config(pyproject if pyproject.is_file() else None)
        suite_paths = list(suites or [])
        if not suite_paths:
            configured = project.run.get("suites")
            root = pyproject.parent
            suite_paths = [root / p for p in split_list(configured)] if configured else [root / "suites"]
        check_outputs(
            [Place("--out", out), Place("--cache-dir", cache_dir, directory=True, holds_inputs=True)],
            [
                *model_places("OLD", old),
                *model_places("OLD-RESEEDED", reseeded),
                *places("SUITES", suite_paths, suites=True),
                Place("--pyproject", pyproject),
            ],
        )
        refuse_empty_suite_paths(suite_paths, "SUITES" if suites else "suites")
        loaded = [load_suite(path) for path in discover_suites(suite_paths)]
        refuse_duplicate_names(loaded)
        for suite in loaded:
            refuse_unjudgeable(suite, project)
        options = RunOptions(
            device=device, dtype=dtype, batch_size=batch_size, trust_remote_code=trust_remote_code,
            allow_pickle=allow_pickle, progress=True, extra={"hash_cache_dir": str(cache_dir / "hashes")},
        )  # fmt: skip
        cache = PredictionCache(cache_dir, "--cache-dir")
        cache.check_writable()
        predictions = {}
        refs = {}
        for label, raw in (("OLD", old), ("OLD-RESEEDED", reseeded)):
            source = open_source(raw, options, label)
            try:
                refs[label] = source.info.ref
                predictions[label] = [
                    predict_suite(
                        source, s, project.settings_for(s.name), cache=cache, progress=True, label=f"{s.name} ({label})"
                    ).predictions
                    for s in loaded
                ]
            finally:
                close_source(source)
        if refs["OLD"] == refs["OLD-RESEEDED"] and predictions["OLD"] == predictions["OLD-RESEEDED"]:
            raise ModelRefError(
                f"OLD and OLD-RESEEDED are the same model ({old}): the floor needs the adapter trained a second time"
            )
        measured = {}
        for i, suite in enumerate(loaded):
            settings = project.settings_for(suite.name)
            evaluation = evaluate_suite(suite, settings, predictions["OLD"][i], predictions["OLD-RESEEDED"][i])
            measured[suite.name] = SuiteFloor.of(evaluation.metrics)
        noise = NoiseFloor(measured, (refs["OLD"], refs["OLD-RESEEDED"]))
        write_floor(out, noise)
    stdout.print(_table(noise))
    stderr.print(
        f"wrote {out}: the noise floor of {len(measured)} suite(s). Gate runs at this root read it (the `floor` run "
        "key names another file); set each max_nfr at or above its suite's floor."
    )


def _table(noise: NoiseFloor) -> Table:
    table = Table("suite", "N", "NF", "PF", "floor", "95%", title="noise floor: two trainings of the old adapter")
    for name, row in sorted(noise.suites.items()):
        ci = row.interval
        table.add_row(
            name, str(row.n), str(row.nf), str(row.pf), percent(row.rate), f"{percent(ci.low)}–{percent(ci.high)}"
        )
    return table

"""`muscle-guard suite import`: a validated suite from a datasets source or an lm-evaluation-harness task."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from muscle_guard.cli.common import reported_errors
from muscle_guard.core.errors import ConfigError
from muscle_guard.core.outputs import Place, check_outputs, places
from muscle_guard.core.suite import Shape

app = typer.Typer(help="Build suites from data you already have.", no_args_is_help=True)


def _fields(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value:
            raise ConfigError(f"--field {pair!r}: expected KEY=FIELD, e.g. --field prompt=question")
        out[key.strip()] = unescape(value)
    return out


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\"}


def unescape(value: str) -> str:
    """`\\n`, `\\t` and `\\\\` in a --field value as a newline, a tab and a backslash: a shell passes
    "Question: {q}\\nAnswer:" as a backslash and an n, which would land in every prompt as two characters."""
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value) and value[i + 1] in _ESCAPES:
            out.append(_ESCAPES[value[i + 1]])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


@app.command("import")
def import_(
    source: Annotated[
        str | None,
        typer.Argument(
            help="Local .json/.jsonl/.csv/.parquet file or folder, or a hub dataset id (online only).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The suite to write (NAME.jsonl); required.", show_default=False)
    ] = Path(),
    shape: Annotated[
        str, typer.Option(help="multiple_choice, classify, generate_exact or generate_score.")
    ] = "multiple_choice",
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            help="KEY=FIELD: prompt, choices, answer, text, label, reference, id, tags; a "
            "prompt may be a template of fields (\\n and \\t in it are a newline and a tab), choices a "
            "comma-separated field list.",
        ),
    ] = None,
    split: Annotated[str | None, typer.Option(help="The split to read (local files: train; hub: test).")] = None,
    config: Annotated[str | None, typer.Option(help="A hub dataset's configuration name.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Import the first N rows only.")] = None,
    choice_prefix: Annotated[
        str,
        typer.Option(
            help="Put before each choice (lm-eval's target delimiter; default: one space).", show_default=False
        ),
    ] = " ",
    lm_eval_task: Annotated[
        Path | None, typer.Option(help="An lm-eval task YAML to import instead, rendered by lm-eval itself.")
    ] = None,
    license_: Annotated[str | None, typer.Option("--license", help="The data's licence, kept with the suite.")] = None,
    citation: Annotated[str | None, typer.Option(help="How to cite the data, kept with the suite.")] = None,
) -> None:
    """Import a suite; it is validated, and its source, mapping and licence go to NAME.source.json beside it."""
    from muscle_guard.importers.mapping import FieldMap, import_rows
    from muscle_guard.importers.write import provenance_path, write_suite

    with reported_errors():
        if output == Path() or output.suffix != ".jsonl":
            raise ConfigError("--output: name the suite file to write, e.g. -o suites/quartz.jsonl")
        if (source is None) == (lm_eval_task is None):
            raise ConfigError("give a SOURCE (a datasets source) or --lm-eval-task YAML, one of the two")
        inputs = places("SOURCE", [Path(source)] if source and Path(source).exists() else [])
        inputs += places("--lm-eval-task", [lm_eval_task])
        check_outputs([Place("-o", output), Place("-o", provenance_path(output))], inputs)
        provenance: dict[str, Any] = {"license": license_, "citation": citation}
        if lm_eval_task is not None:
            from muscle_guard.importers.lm_eval import task_rows

            name, rows, meta = task_rows(lm_eval_task, limit)
            kind = Shape.MULTIPLE_CHOICE if meta["output_type"] == "multiple_choice" else Shape.GENERATE_EXACT
            keys = ("prompt", "choices", "answer") if kind is Shape.MULTIPLE_CHOICE else ("prompt", "answer")
            mapping = FieldMap(kind, {**{k: k for k in keys}, "id": f"{name}-{{doc}}"}, choice_prefix="")
            label = str(lm_eval_task)
            provenance.update(source=label, **meta)
        else:
            from muscle_guard.importers.sources import Source, read_rows

            assert source is not None
            try:
                kind = Shape(shape)
            except ValueError:
                raise ConfigError(f"--shape {shape!r}: expected one of {', '.join(s.value for s in Shape)}") from None
            mapping = FieldMap(kind, _fields(field or []), choice_prefix=choice_prefix, id_prefix=f"{output.stem}-")
            where = Source(source, split, config)
            label = where.label
            rows = (row for n, row in enumerate(read_rows(where)) if limit is None or n < limit)
            provenance.update(source=source, split=split, config=config, fields=dict(mapping.fields),
                              choice_prefix=choice_prefix if kind is Shape.MULTIPLE_CHOICE else None)  # fmt: skip
        imported = import_rows(rows, mapping, label)
        write_suite(output, imported.instances, {**provenance, "shape": kind.value, "duplicates": imported.duplicates})
        dropped = f"; {imported.duplicates} duplicate row(s) left out" if imported.duplicates else ""
        print(f"wrote {output}: {len(imported.instances)} {kind.value} instances from {label}{dropped} "
              f"(provenance in {provenance_path(output)})", file=sys.stderr)  # fmt: skip

"""The `muscle-guard` command line (Typer). One module per command; data on stdout, messages on stderr."""

from __future__ import annotations

import typer

from muscle_guard.cli import check, fix, floor, predict, report, suite, validate
from muscle_guard.reports.console import install_console, install_warnings

app = typer.Typer(
    name="muscle-guard",
    help="Gate base-model upgrades of fine-tuned models on negative flips, and fix them with MUSCLE.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("validate")(validate.validate)
app.command("predict")(predict.predict)
app.command("report")(report.report)
app.command("fix")(fix.fix)
app.command("floor")(floor.floor)
app.add_typer(suite.app, name="suite")
app.command("check", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(check.check)


@app.callback()
def _root() -> None:
    """Gate base-model upgrades of fine-tuned models on negative flips, and fix them with MUSCLE."""
    install_console()
    install_warnings()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

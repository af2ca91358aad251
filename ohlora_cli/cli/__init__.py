"""The ``ohlora`` command: one Typer app, one module per command group, errors printed in one place."""

from __future__ import annotations

import errno
import os

import typer
from typer.core import TyperGroup

from ohlora_cli import __version__
from ohlora_cli.errors import OhloraError

INTERNAL = "internal error"


def _unexpected(err: BaseException) -> str:
    """The one line for an exception no stage turned into an OhloraError (a bug, or the OS refusing)."""
    if isinstance(err, MemoryError):
        return ("out of memory. Use a smaller --batch-size or --n, or close other programs")
    if isinstance(err, OSError) and err.strerror:
        where = f" ({err.filename})" if err.filename else ""
        if err.errno == errno.ENOSPC:
            return f"no space left on the device{where}. Free some space and run the same command again"
        return f"{err.strerror}{where}. Check the path and its permissions"
    first = (str(err).splitlines() or [""])[0][:300]
    return (f"{INTERNAL} ({type(err).__name__}: {first}). This is a bug in ohlora: please report it with the "
            f"command; OHLORA_DEBUG=1 shows the traceback")


class _OhloraGroup(TyperGroup):
    """Turns every :class:`OhloraError` into ``Error: <what>. <fix>`` on stderr and exit code 1.

    Anything else that escapes a command (an OSError, a bug) is one line too, unless ``OHLORA_DEBUG=1``.
    """

    def invoke(self, ctx):  # noqa: ANN001
        try:
            return super().invoke(ctx)
        except OhloraError as err:
            typer.echo(f"Error: {err.message}", err=True)
            raise typer.Exit(1) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
            raise
        except Exception as err:  # noqa: BLE001 - the last line of defence against tracebacks
            if os.environ.get("OHLORA_DEBUG") == "1" or _is_click_exception(err):
                raise
            typer.echo(f"Error: {_unexpected(err)}", err=True)
            raise typer.Exit(1) from None


def _is_click_exception(err: BaseException) -> bool:
    """Usage errors (exit 2) are printed by click itself."""
    return any(c.__name__ in ("ClickException", "Exit", "Abort") for c in type(err).__mro__)


app = typer.Typer(cls=_OhloraGroup, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
                  help="Build a controllable virtual face: generate → score → filter → finetune → vectorfind → "
                       "synth, every step recorded in a SQLite catalog.",
                  epilog="Example: ohlora generate --n 100  |  ohlora synth --seed 3 --eyes 1.2 --out face.png")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ohlora {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Build a controllable virtual face: generate → score → filter → finetune → vectorfind → synth, every
    step recorded in a SQLite catalog."""


def _register() -> None:
    from ohlora_cli.cli import (
        catalog,
        demo,
        evaluate,
        filter,
        finetune,
        generate,
        identity,
        label,
        model,
        score,
        studio,
        synth,
        synthetic,
        vectorfind,
    )

    app.add_typer(catalog.app, name="catalog")
    app.add_typer(model.app, name="model")
    app.command("demo", epilog=demo.EPILOG)(demo.demo)
    app.command("generate", epilog=generate.EPILOG)(generate.generate)
    app.command("score", epilog=score.EPILOG)(score.score)
    app.command("filter", epilog=filter.EPILOG)(filter.filter_)
    app.add_typer(label.app, name="label")
    app.command("finetune", epilog=finetune.EPILOG)(finetune.finetune)
    app.command("eval", epilog=evaluate.EPILOG)(evaluate.evaluate)
    app.command("synth", epilog=synth.EPILOG)(synth.synth)
    app.command("studio", epilog=studio.EPILOG)(studio.studio)
    app.add_typer(vectorfind.app, name="vectorfind")
    app.add_typer(identity.app, name="identity")
    app.add_typer(synthetic.app, name="synthetic")


_register()


def main() -> None:
    app()

"""``ohlora studio``: a local web page to shape a face with sliders."""

from __future__ import annotations

from typing import Annotated

import typer

from ohlora_cli.cli._common import (
    DEFAULT_CATALOG,
    CatalogOpt,
    DeviceOpt,
    ModelOpt,
    QuietOpt,
    ThreadsOpt,
    example,
    open_catalog,
    say,
    say_err,
    use_threads,
)

EPILOG = example("ohlora studio", "ohlora studio --catalog ohlora.db --directions svm-synthetic-base --port 8800")


def studio(
    model: ModelOpt = None,
    directions: Annotated[str | None, typer.Option("--directions", help="Direction set the page starts with "
                                                                        "[default: newest of the generator].")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default; requests for "
                                                     "any other Host header are refused).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0 = any free port).")] = 8765,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = "auto",
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Open a local web page with sliders for eyes, mouth, pose and every property with directions.

    The edited face is shown beside the unedited one, with its measured properties and the exact
    `ohlora synth` command that reproduces it; save it as an identity or download the PNG, a sweep or
    an animation.  Ctrl-C stops the server.
    """
    use_threads(threads, reserve=1)  # one core stays with the browser
    from ohlora_cli.limits import check_int
    from ohlora_cli.studio import serve

    serve.check_host(host)
    check_int(port, "--port", lo=0, hi=65535, example="8765")
    if host not in ("127.0.0.1", "localhost", "::1"):
        say_err(f"warning: serving on {host}: anyone who can reach it can use the studio (no login)", quiet)
    cat = open_catalog(catalog, quiet=quiet)
    serve.serve(cat, catalog_arg=str(catalog), model=model, directions=directions, host=host, port=port,
                device=device, quiet=quiet, on_ready=lambda url: say(f"ohlora studio at {url} (Ctrl-C stops it)"))
    say_err("studio stopped", quiet)

"""``convrec studio``: serve the web studio (playground, digit reader, movies, HTTP API)."""

from __future__ import annotations

from typing import Annotated

import typer

from convrec.cli.common import (
    DataDirOption,
    UserError,
    check_release,
    console,
    err_console,
    fail,
    release_names,
)
from convrec.data.movielens import DEFAULT_RELEASE


def _check_host(host: str) -> None:
    """The bind address must resolve (else uvicorn exits 3 with a log line, after set-up)."""
    import socket

    try:
        socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError) as exc:
        raise UserError(f"--host {host!r} is not an address or a host name this machine "
                        f"resolves ({exc}); use e.g. --host 127.0.0.1 or --host 0.0.0.0"
                        ) from None

_RELEASES = release_names()


def studio(
    host: Annotated[
        str | None,
        typer.Option("--host", help="Address to bind (default $CONVREC_HOST or 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Port (default $CONVREC_PORT or 8000)."),
    ] = None,
    data_dir: DataDirOption = None,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", help=f"The MovieLens release whose recommender, titles, "
                     f"search and rating scale the studio and its API serve: {_RELEASES} "
                     f"(default $CONVREC_DATASET or {DEFAULT_RELEASE})."),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="SQLAlchemy URL (default $DATABASE_URL or SQLite "
                     "in the cache folder)."),
    ] = None,
    warm: Annotated[
        bool,
        typer.Option("--warm/--lazy", help="Load the saved models in each worker before it "
                     "serves, or on first use. Missing models train in a background process "
                     "either way; the pages say so and work as soon as they are ready."),
    ] = True,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, max=64, help="Serving processes (default: the number "
                     "of cores). Each pins its BLAS and torch pools to one thread; with several "
                     "machines or workers, use PostgreSQL (DATABASE_URL)."),
    ] = None,
) -> None:
    """Start the studio on http://127.0.0.1:8000 (loopback only unless --host says otherwise).

    The database is checked and migrated first (one line if it cannot be used). The studio
    answers within seconds: on a first start the default models train in a background
    process while the pages work and show the progress; later starts load them from the
    cache. See docs/deployment.md for workers, PostgreSQL and a reverse proxy.

    Example: [bold]convrec studio --port 8001 --workers 2 --dataset ml-latest-small[/]
    """
    import os

    from convrec.web.timeline import mark

    mark("cli", "studio command running (CLI imported, arguments parsed)")
    from convrec.settings import get_settings
    from convrec.web.db import DatabaseStartupError, check_database
    from convrec.web.training import start_background_training

    mark("cli", "studio command's imports done")

    if database_url is not None and not database_url.strip():  # else: the default, silently
        raise UserError("--database-url is empty: give an SQLAlchemy URL such as "
                        "sqlite:///studio.db or postgresql://..., or leave the option out for "
                        "SQLite in the cache")
    settings = get_settings(data_dir=data_dir, host=host, port=port, database_url=database_url,
                            dataset=dataset)
    _check_host(settings.host)
    given = f"--dataset {dataset}" if dataset is not None else f"CONVREC_DATASET={settings.dataset}"
    check_release(settings.dataset, given)
    try:  # the database first: a bad URL is one line now, before any model loads
        check_database(settings.resolved_database_url).dispose()
    except DatabaseStartupError as exc:
        fail(str(exc))
    mark("cli", "database checked")
    count = workers or os.cpu_count() or 1
    # the workers read their settings from the environment (uvicorn starts them afresh)
    os.environ["DATABASE_URL"] = settings.resolved_database_url
    os.environ["CONVREC_CACHE"] = str(settings.cache_dir)
    if settings.data_dir is not None:
        os.environ["CONVREC_DATA"] = str(settings.data_dir)
    if settings.dataset is not None:
        os.environ["CONVREC_DATASET"] = settings.dataset
    if not warm:
        os.environ["CONVREC_STUDIO_LAZY"] = "1"
    trainer = start_background_training(settings)
    mark("cli", "models looked for (trainer started if one is missing)")
    if trainer is not None:
        console.print("first start: the default models are training in a background process "
                      f"(log: {settings.cache_dir / 'studio-training.log'}); the pages work "
                      "meanwhile and show the progress")
    if settings.host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(
            f"[yellow]warning:[/] binding {settings.host}: the studio is reachable from other "
            "machines; use a TLS proxy in front of it"
        )
    console.print(f"convrec studio on http://{settings.host}:{settings.port} with {count} "
                  f"worker{'s' if count > 1 else ''}, movies from "
                  f"{settings.dataset or DEFAULT_RELEASE}  (Ctrl+C stops)")
    mark("cli", "uvicorn starting")
    from convrec.cli.serve import serve

    try:
        serve(settings.host, settings.port, count)
    finally:
        if trainer is not None and trainer.poll() is None:
            trainer.terminate()  # a model half trained is not saved (saves are atomic)

"""``convrec studio``: serve the web studio (playground, digit reader, movies, HTTP API)."""

from __future__ import annotations

from typing import Annotated

import typer

from convrec.cli.common import DataDirOption, console, err_console, fail


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
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="SQLAlchemy URL (default $DATABASE_URL or SQLite "
                     "in the cache folder)."),
    ] = None,
    warm: Annotated[
        bool,
        typer.Option("--warm/--lazy", help="Load (or train, with a progress bar) the default "
                     "models before serving, or on first use."),
    ] = True,
) -> None:
    """Start the studio on http://127.0.0.1:8000 (loopback only unless --host says otherwise).

    The database is migrated on start. On the first start the default models are trained
    (with progress bars) when none are saved; later starts load them.

    Example: [bold]convrec studio --port 8001[/]
    """
    import uvicorn

    from convrec.settings import get_settings
    from convrec.web import Services, create_app
    from convrec.web.db import DatabaseStartupError

    settings = get_settings(data_dir=data_dir, host=host, port=port, database_url=database_url)
    services = Services.defaults(settings, progress=True)
    try:  # the database first: a bad URL is one line now, not after minutes of training
        app = create_app(settings, services)
    except DatabaseStartupError as exc:
        fail(str(exc))
    if warm:
        console.print("loading the studio's models (first start trains them)...")
        for what, why in services.warm_up().items():
            err_console.print(f"[yellow]warning:[/] {what} unavailable: {why}", soft_wrap=True)
    if settings.host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(
            f"[yellow]warning:[/] binding {settings.host}: the studio is reachable from other "
            "machines; use a TLS proxy in front of it"
        )
    console.print(f"convrec studio on http://{settings.host}:{settings.port}  (Ctrl+C stops)")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")

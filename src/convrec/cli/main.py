"""Entry point of the ``convrec`` command. Sub-command groups live one per module.

Heavy libraries (torch, matplotlib, the web stack) are imported inside commands, so that
``convrec --help`` and ``convrec conv shape`` answer fast.
"""

from __future__ import annotations

import typer

from convrec.cli import (
    conv as conv_cli,
    mnist as mnist_cli,
    movies as movies_cli,
    shapes as shapes_cli,
    studio as studio_cli,
)
from convrec.cli.common import run_app

app = typer.Typer(
    name="convrec",
    help="Convolutions you can see and a movie recommender you can use.\n\n"
    "Errors are one line (exit 2: bad input, 1: a failure); add --debug anywhere, or set "
    "CONVREC_DEBUG=1, for the full traceback. Alone, convrec prints this help and exits 2.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
app.add_typer(conv_cli.app, name="conv")
app.add_typer(shapes_cli.app, name="shapes")
app.add_typer(movies_cli.app, name="movies")
app.add_typer(mnist_cli.app, name="mnist")
app.command("demo")(conv_cli.demo)
app.command("studio")(studio_cli.studio)


def main() -> None:
    """Console-script entry point."""
    run_app(app)


if __name__ == "__main__":
    main()

"""The CLI reference is generated from the live command tree: every command, every option."""

from __future__ import annotations

from types import ModuleType

import typer

from convrec.cli.main import app


def test_every_command_has_a_section_with_its_options(cli_reference: ModuleType) -> None:
    text = cli_reference.render()
    paths = cli_reference.command_paths()
    assert ["convrec", "conv", "shape"] in paths and ["convrec", "shapes", "trace"] in paths
    for path in paths:
        assert f"`{' '.join(path)}`\n" in text, path
    # options of a leaf command, with click's default notes kept (rich must not eat them)
    assert "`-k, --kernel INTEGER` | option | Kernel size. [default: 3] |" in text
    assert "[required]" in text


def test_rich_markup_is_stripped(cli_reference: ModuleType) -> None:
    assert cli_reference._plain("Example: [bold]convrec conv kernels[/]") == (
        "Example: convrec conv kernels"
    )
    assert "[bold]" not in cli_reference.render()


def test_a_new_command_appears_without_editing_the_docs(cli_reference: ModuleType) -> None:
    extra = typer.Typer()

    @extra.command("hello")
    def hello(name: str = typer.Option("world", help="Who to greet.")) -> None:
        """Say hello."""

    @extra.command("bye")
    def bye() -> None:
        """Say bye."""

    text = cli_reference.render(typer.main.get_command(extra), name="greet")
    assert "### `greet hello`" in text and "Say hello." in text
    assert "`--name TEXT` | option | Who to greet. [default: world] |" in text
    assert app.info.name == "convrec"  # the real app is untouched

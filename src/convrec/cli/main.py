"""Entry point of the ``convrec`` command. Sub-command groups live one per module.

Heavy libraries (torch, matplotlib, the web stack) are imported inside commands, so that
``convrec --help`` and ``convrec conv shape`` answer fast. A command line that names a group
(``convrec movies rate ...``) builds only that group: the other modules are not imported and
their commands not turned into click commands (about 75 ms of every fresh ``movies rate`` on
this machine). ``app`` is the whole tree, built on first use, for ``--help`` and the tests.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

#: the first level of the tree, in the order ``convrec --help`` lists it:
#: name -> (module, attribute, whether it is a group of commands)
TREE: dict[str, tuple[str, str, bool]] = {
    "conv": ("convrec.cli.conv", "app", True),
    "shapes": ("convrec.cli.shapes", "app", True),
    "movies": ("convrec.cli.movies", "app", True),
    "mnist": ("convrec.cli.mnist", "app", True),
    "demo": ("convrec.cli.conv", "demo", False),
    "studio": ("convrec.cli.studio", "studio", False),
}

_HELP = ("Convolutions you can see and a movie recommender you can use.\n\n"
         "Errors are one line (exit 2: bad input, 1: a failure); add --debug anywhere, or set "
         "CONVREC_DEBUG=1, for the full traceback. Alone, convrec prints this help and exits 2.")


def _is_group(name: str) -> bool:
    """Whether ``name`` is a first-level command group (``movies``), not a command."""
    return name in TREE and TREE[name][2]


def reflow_help(doc: str) -> str:
    """A command's docstring as its ``--help`` shows it: typer's rich mode keeps every line
    break after the first paragraph, so source lines wrapped at 100 columns came out ragged
    on an 80-column terminal. Lines of a paragraph are joined; an ``Example:`` line starts
    its own, and a ``\\b`` paragraph (click's "keep as is") is left alone."""
    paragraphs = []
    for paragraph in doc.split("\n\n"):
        if paragraph.startswith("\b"):
            paragraphs.append(paragraph)
            continue
        lines: list[str] = []
        for line in paragraph.splitlines():
            if lines and not line.startswith("Example:"):
                lines[-1] += " " + line.strip()
            else:
                lines.append(line.strip())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def _reflow_commands(app: typer.Typer) -> None:
    """Give every command of ``app`` and its groups its reflowed docstring as help."""
    import inspect

    for command in app.registered_commands:
        if command.help is None and command.callback is not None:
            command.help = reflow_help(inspect.getdoc(command.callback) or "")
    for group in app.registered_groups:
        if group.typer_instance is not None:
            _reflow_commands(group.typer_instance)


def build_app(only: str | None = None) -> typer.Typer:
    """The ``convrec`` app: every command, or with ``only`` (a group's name) that group alone
    under the same root, which parses, errs and helps exactly as the whole tree does for a
    command line starting with that name. (A lone *command* under the root would become the
    root itself in typer, so ``only`` must name a group.)"""
    import typer

    if only is not None and not _is_group(only):
        groups = ", ".join(n for n, (_, _, is_group) in TREE.items() if is_group)
        raise ValueError(f"only must name a command group ({groups}), got only={only!r}")
    root = typer.Typer(name="convrec", help=_HELP, no_args_is_help=True, add_completion=False,
                       rich_markup_mode="rich")
    for name, (module, attr, is_group) in TREE.items():
        if only is not None and name != only:
            continue
        target = getattr(importlib.import_module(module), attr)
        if is_group:
            root.add_typer(target, name=name)
        else:
            root.command(name)(target)
    _reflow_commands(root)
    return root


_FULL: list[typer.Typer] = []


def __getattr__(name: str) -> typer.Typer:
    if name == "app":  # the whole tree, built once, on first use
        if not _FULL:
            _FULL.append(build_app())
        return _FULL[0]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _group_named(argv: list[str]) -> str | None:
    """The group a command line starts with (``movies`` for ``movies rate ...``), else None."""
    from convrec.cli.common import DEBUG_FLAG

    words = [a for a in argv if a != DEBUG_FLAG]
    if words and _is_group(words[0]):
        return words[0]
    return None


def main() -> None:
    """Console-script entry point."""
    from convrec.cli.common import run_app

    group = _group_named(sys.argv[1:])
    run_app(build_app(group) if group is not None else __getattr__("app"))


if __name__ == "__main__":
    main()

"""The CLI reference page, generated from the ``convrec`` command tree itself.

Two uses:

- as a MkDocs hook (``hooks: [scripts/gen_cli_reference.py]`` in ``mkdocs.yml``): every
  build adds ``cli.md`` to the site from the live command tree, so the page cannot drift
  from the code;
- as a script: ``python scripts/gen_cli_reference.py [OUT.md]`` prints (or writes) the same
  markdown.

Every command and group under ``convrec`` gets a section with its usage line, its help text
(rich markup stripped) and a table of its arguments and options with their defaults.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PAGE = "cli.md"
_CLICK_NOTES = re.compile(r"\[(?:default: [^\]]*|required|env var: [^\]]*)\]")

_INTRO = """\
# CLI reference

Generated from the `convrec` command tree at every docs build
(`scripts/gen_cli_reference.py`), so it always matches the installed code. Run
`convrec COMMAND --help` for the same text in the terminal.

"""


def _plain(text: str | None) -> str:
    """Help text without rich markup (``[bold]...[/]``), with typer's ``\\b`` markers dropped."""
    if not text:
        return ""
    from rich.markup import escape
    from rich.text import Text

    lines = [line for line in text.splitlines() if line.strip() != "\b"]
    # click's own notes look like markup tags to rich: keep them
    kept = _CLICK_NOTES.sub(lambda m: escape(m.group(0)), "\n".join(lines))
    return Text.from_markup(kept).plain.strip()


def _cell(text: str) -> str:
    """Text for one markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _is_group(command: Any) -> bool:
    return hasattr(command, "list_commands")


def _subcommands(command: Any, ctx: Any) -> list[tuple[str, Any]]:
    if not _is_group(command):
        return []
    subs = [(n, command.get_command(ctx, n)) for n in sorted(command.list_commands(ctx))]
    return [(n, c) for n, c in subs if c is not None and not c.hidden]


def _walk(
    command: Any, path: list[str], parent: Any = None
) -> Iterator[tuple[list[str], Any, Any]]:
    ctx = command.context_class(command, info_name=path[-1], parent=parent)
    yield path, command, ctx
    for name, sub in _subcommands(command, ctx):
        yield from _walk(sub, [*path, name], ctx)


def _param_row(param: Any, ctx: Any) -> str | None:
    """One table row from the parameter's own help record (names, metavar, help, default)."""
    if param.hidden or param.name == "help":
        return None
    record = param.get_help_record(ctx)
    if record is None:
        return None
    names, help_text = record
    return f"| `{_cell(names)}` | {param.param_type_name} | {_cell(_plain(help_text))} |"


def _root(command: Any) -> Any:
    if command is not None:
        return command
    import typer

    from convrec.cli.main import app

    return typer.main.get_command(app)


def command_paths(command: Any = None, name: str = "convrec") -> list[list[str]]:
    """Every command and group, as its words: ``[["convrec"], ["convrec", "conv"], ...]``."""
    return [path for path, _, _ in _walk(_root(command), [name])]


def render(command: Any = None, name: str = "convrec") -> str:
    """The CLI reference as markdown: one section per command, in tree order."""
    command = _root(command)
    parts = [_INTRO]
    for path, cmd, ctx in _walk(command, [name]):
        depth = min(len(path) + 1, 4)
        parts.append(f"{'#' * depth} `{' '.join(path)}`\n")
        pieces = " ".join(cmd.collect_usage_pieces(ctx))
        parts.append(f"```text\n{' '.join(path)} {pieces}\n```\n")
        help_text = _plain(cmd.help)
        if help_text:
            parts.append(help_text + "\n")
        subs = _subcommands(cmd, ctx)
        if subs:
            parts.append("| command | what it does |\n|---|---|")
            for sub_name, sub in subs:
                short = _plain(sub.get_short_help_str(limit=200))
                parts.append(f"| `{' '.join([*path, sub_name])}` | {_cell(short)} |")
            parts.append("")
        rows = [r for p in cmd.get_params(ctx) if (r := _param_row(p, ctx))]
        if rows:
            parts.append("| name | kind | help |\n|---|---|---|")
            parts.extend(rows)
            parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def on_files(files: Any, config: Any) -> Any:
    """MkDocs hook: add the generated ``cli.md`` to the site's files."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, PAGE, content=render()))
    return files


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Print (or write) the CLI reference page.")
    parser.add_argument("out", nargs="?", type=Path, help="the markdown file to write")
    out = parser.parse_args(argv).out  # an argument parser: `--help` is never a file name
    text = render()
    if out is not None:
        out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

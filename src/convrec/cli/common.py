"""Shared CLI plumbing: the one error path, the consoles, the common options.

Every ``convrec`` command runs through :func:`run_app`, which decides what the user sees
when something goes wrong (and nothing else in the CLI does):

- a usage error (unknown command or option, missing argument, badly typed value): click's
  usage line, the ``Try '... --help'`` hint and one ``error:`` line naming the parameter and
  the value; exit code 2. ``convrec`` (or a group such as ``convrec movies``) alone prints
  its help on stdout and exits 2, as click does: no command ran, and a script notices;
- a domain error (bad input found by the library: ``UserError``, ``ValueError``, a missing
  file or dataset, an unknown name): one line ``error: ...``; exit 2. A failure that is not
  the input's fault (``CommandFailedError``, a disk or permission error): one line; exit 1;
- a network failure (no route to the download mirror): one line with the offline fix; exit 1;
- anything else is a bug: one line and "run again with --debug", exit 1. ``--debug``
  (anywhere on the command line) or ``CONVREC_DEBUG=1`` shows the full traceback instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text
from typer._click.exceptions import ClickException, NoArgsIsHelpError  # typer exports neither

console = Console()
err_console = Console(stderr=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder holding datasets in their original layout (mnist/, ml-100k/). "
        "Default: $CONVREC_DATA, then the cache, then a verified download.",
        exists=True,  # a typo'd folder is a usage error naming it, not a search that finds nothing
        file_okay=False,
        dir_okay=True,
    ),
]

DEBUG_FLAG = "--debug"
OFFLINE_FIX = (
    "Fix: give a local copy with --data-dir DIR or CONVREC_DATA=DIR (a folder holding the "
    "dataset in its original layout), or set CONVREC_OFFLINE=1 to never download"
)


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit code 2."""


class CommandFailedError(Exception):
    """A command that could not do its work through no fault of the input: one line, exit 1."""


def print_error(message: str) -> None:
    """Print ``error: message`` on stderr as one line (no rich markup read from ``message``)."""
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one clear line to stderr and exit with ``code`` (2: bad input; 1: a failure)."""
    print_error(message)
    sys.exit(code)


def check_png_path(flag: str, path: Path) -> None:
    """A figure path must name a ``.png`` file in an existing folder, checked before any work
    (a folder given as ``-o DIR`` would otherwise become ``DIR.png`` beside it)."""
    if path.is_dir():
        raise UserError(f"{flag} {path} is a folder; name a file, e.g. {flag} {path}/figure.png")
    if path.suffix.lower() != ".png":
        raise UserError(f"{flag} {path}: the figure is a PNG; give a name ending in .png")
    if not path.parent.is_dir():
        raise UserError(f"{flag} {path}: the folder {path.parent} does not exist")


def input_file(what: str, example: str, flag: str = "", look_for: tuple[str, ...] = ()
               ) -> Callable[[str], Path]:
    """A typer ``parser`` for a file a command reads (``--ratings``, ``--model``, images).

    An empty value and a folder are refused where they are parsed, in one line that names the
    file expected: click would turn ``""`` into the current folder, and the loaders behind
    the option would call a folder "not found" (or suggest writing a model over it).

    Args:
        what: the file in words, e.g. ``"ratings file"``.
        example: a name for the file, shown when nothing in a given folder fits ``look_for``.
        flag: the option, shown in the example (``--ratings``); empty for an argument.
        look_for: glob patterns of the file: a folder given is searched for one to suggest
            (``("u.data", "ratings.csv", "*.csv")`` finds ML-100K's ``u.data``).
    """

    def path(value: str) -> Path:  # click names the type after the function: PATH
        given = f"{flag} " if flag else ""
        if not value.strip():
            raise typer.BadParameter(f"{value!r} is empty; give the {what}, e.g. "
                                     f"{given}{example}")
        chosen = Path(value)
        if chosen.is_dir():
            inside = (m for pattern in look_for for m in sorted(chosen.glob(pattern))
                      if m.is_file())
            found = next(inside, chosen / example)
            raise typer.BadParameter(f"{value} is a folder; give the {what} in it, e.g. "
                                     f"{given}{found}")
        return chosen

    return path


def output_file(what: str, example: str, flag: str) -> Callable[[str], Path]:
    """A typer ``parser`` for a path a command writes: an empty value is refused (click would
    make ``""`` the current folder, and the files would land among the user's own)."""

    def path(value: str) -> Path:  # click names the type after the function: PATH
        if not value.strip():
            raise typer.BadParameter(f"{value!r} is empty; name the {what}, e.g. {flag} "
                                     f"{example}")
        return Path(value)

    return path


def unnamed_output(flag: str, given: Path | None, default: Path,
                   targets: tuple[Path, ...] | None = None) -> Path:
    """``given`` when the user named the output; else ``default``, refused if writing it would
    replace a file there (only a path the user named is ever overwritten).

    Args:
        flag: the option that names the output (``-o``).
        given: its value, ``None`` when not given.
        default: where the output goes when not named.
        targets: the files written under a default *folder* (all of ``default`` for a file).
    """
    if given is not None:
        return given
    in_the_way = [t for t in (targets if targets is not None else (default,)) if t.exists()]
    if in_the_way:
        n = 2
        while default.with_name(f"{default.stem}-{n}{default.suffix}").exists():
            n += 1
        free = default.with_name(f"{default.stem}-{n}{default.suffix}")
        raise UserError(f"{in_the_way[0]} already exists and {flag} was not given; name a new "
                        f"output, e.g. {flag} {free}, or replace it with {flag} {default}")
    return default


def release_names() -> str:
    """The MovieLens releases, comma-separated, for help texts and messages."""
    from convrec.data.movielens import releases

    return ", ".join(releases())


def check_release(name: str | None, given: str, example: str = "--dataset") -> str | None:
    """``name`` unchanged when it is a MovieLens release or ``None``; otherwise one line naming
    what the user set (``given``: ``"--dataset ml-99k"``, ``"CONVREC_DATASET=ml-99k"``) and
    the releases, with an example (``example`` followed by the default release)."""
    from convrec.data.movielens import DEFAULT_RELEASE, releases

    if name is not None and name not in releases():
        raise UserError(f"{given} is not a MovieLens release; use one of {release_names()} "
                        f"(e.g. {example} {DEFAULT_RELEASE})")
    return name


def debug_requested() -> bool:
    """True when ``CONVREC_DEBUG`` asks for full tracebacks (``1``, ``true``, ``yes``)."""
    return os.environ.get("CONVREC_DEBUG", "").lower() in ("1", "true", "yes")


def _pop_debug_flag(argv: list[str]) -> tuple[list[str], bool]:
    """``argv`` without ``--debug`` (accepted anywhere before ``--``), and whether it was there."""
    end = argv.index("--") if "--" in argv else len(argv)
    if DEBUG_FLAG not in argv[:end]:
        return argv, False
    kept = [a for a in argv[:end] if a != DEBUG_FLAG] + argv[end:]
    return kept, True


def _show_usage_error(exc: ClickException) -> None:
    """Usage line, the help hint and one ``error:`` line, on stderr."""
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        err_console.print(Text(ctx.get_usage()), soft_wrap=True)
        if ctx.command.get_help_option(ctx) is not None:
            hint = f"Try '{ctx.command_path} {ctx.help_option_names[0]}' for help."
            err_console.print(Text(hint), soft_wrap=True)
    print_error(exc.format_message())


def _network_failure(exc: BaseException) -> str | None:
    """A one-line description when ``exc`` (or what caused it) is a failed network access."""
    import socket
    import urllib.error

    network_types: list[type[BaseException]] = [
        ConnectionError,
        TimeoutError,
        socket.gaierror,
        urllib.error.URLError,
    ]
    requests = sys.modules.get("requests")  # only when the library imported it (pooch does)
    if requests is not None:
        network_types.append(requests.exceptions.RequestException)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, tuple(network_types)):
            request = getattr(current, "request", None)
            url = getattr(request, "url", None) or getattr(current, "url", None)
            where = f" {url}" if url else ""
            kind = type(current).__name__
            return f"could not download{where}: the network is unreachable ({kind})"
        # `raise ... from None` (a message that already says what to do) ends the chain
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__)
    return None


def _domain_error_code(exc: BaseException) -> int | None:
    """Exit code for an error the user can act on (2: bad input, 1: failure), else ``None``."""
    from convrec.data.registry import DatasetNotFoundError

    if isinstance(exc, UserError | ValueError | FileNotFoundError | DatasetNotFoundError):
        return 2
    # the library raises KeyError with a sentence for unknown names; a bare KeyError('x') is a bug
    if isinstance(exc, KeyError) and exc.args and " " in str(exc.args[0]):
        return 2
    if isinstance(exc, CommandFailedError | MemoryError):
        return 1
    if isinstance(exc, OSError) and exc.filename is not None:
        return 1
    return None


def _domain_error_message(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return str(exc.args[0])
    if isinstance(exc, MemoryError):
        return "not enough memory for this request; try smaller inputs"
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        return f"cannot use {exc.filename}: {exc.strerror}"  # not "[Errno 13] ..."
    return str(exc)


def _show_warning_line(
    message: Warning | str, category: type[Warning], filename: str, lineno: int,
    file: object = None, line: str | None = None,
) -> None:
    """``warnings.showwarning`` for the terminal: ``warning: message``, without the source line."""
    err_console.print(Text.assemble(("warning:", "yellow"), " ", str(message)), soft_wrap=True)


def run_app(app: typer.Typer) -> None:
    """Run a typer app through the CLI's one error path (see the module docstring)."""
    import warnings

    argv, debug_flag = _pop_debug_flag(sys.argv[1:])
    debug = debug_flag or debug_requested()
    with warnings.catch_warnings():
        if not debug:  # the library warns with a sentence; the file and line are for developers
            warnings.showwarning = _show_warning_line
        _run(app, argv, debug)


def _run(app: typer.Typer, argv: list[str], debug: bool) -> None:
    try:
        # with standalone_mode=False click returns the code of typer.Exit instead of exiting,
        # and hands its usage errors to us instead of printing them its own way; the name is
        # given because click guesses it from sys.argv ("python -m convrec", pytest's own)
        code = app(args=argv, prog_name="convrec", standalone_mode=False)
    except typer.Abort:
        print_error("aborted")
        sys.exit(1)
    except ClickException as exc:  # typer's own (vendored) click's usage errors
        if isinstance(exc, NoArgsIsHelpError):
            # typer has printed the help on stdout while building the exception
            if exc.format_message():
                console.print(Text(exc.format_message()), soft_wrap=True)
            sys.exit(2)
        if debug:
            raise
        exit_code = getattr(exc, "exit_code", 1)
        if exit_code == 2:
            _show_usage_error(exc)
        else:
            print_error(exc.format_message())
        sys.exit(exit_code)
    except Exception as exc:
        if debug:
            raise
        network = _network_failure(exc)
        if network is not None:
            fail(f"{network}. {OFFLINE_FIX}", code=1)
        domain_code = _domain_error_code(exc)
        if domain_code is not None:
            fail(_domain_error_message(exc), code=domain_code)
        fail(
            f"unexpected {type(exc).__name__}: {exc} (this is a bug in convrec; run again "
            f"with {DEBUG_FLAG} or CONVREC_DEBUG=1 for the traceback)",
            code=1,
        )
    if isinstance(code, int) and code:
        sys.exit(code)


def walk_commands(
    command: Any = None, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every runnable command of ``convrec`` as ``(("movies", "similar"), command)``.

    Read from the live typer/click tree, so a command added anywhere is walked without
    anyone remembering to list it (the tests and the bad-input census use it).
    """
    if command is None:
        import typer.main

        from convrec.cli.main import app  # here: main imports this module

        command = typer.main.get_command(app)
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield path, command
        return
    for name, sub in sorted(subcommands.items()):
        yield from walk_commands(sub, (*path, name))

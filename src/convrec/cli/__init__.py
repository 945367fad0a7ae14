"""The ``convrec`` command line (typer + rich). Thin: parse, call one library function, render."""

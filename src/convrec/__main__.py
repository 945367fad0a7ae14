"""``python -m convrec``: the same command line as the ``convrec`` console script."""

from convrec.cli.main import main

if __name__ == "__main__":
    main()

"""The ``ingenium`` command line: a thin Typer shell over library functions."""

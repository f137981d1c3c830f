"""``python -m ingenium``: the CLI."""

from ingenium.cli.main import main

main()

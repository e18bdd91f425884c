"""Subcommands of `aiprod-sandbox` beyond `serve` (`cli.py` parses and dispatches)."""

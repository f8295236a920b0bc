"""Shared command-line plumbing: an argparse parser whose errors are one line and exit code 2."""
import argparse


class OneLineParser(argparse.ArgumentParser):
    """ArgumentParser that reports bad input as a single `error: ...` line (no usage dump)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"error: {message} (see --help)\n")

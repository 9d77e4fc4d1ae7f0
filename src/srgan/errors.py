"""The one exception type that user-facing code raises for bad input.

The CLI turns it into a single line on stderr and a non-zero exit code; anything else is a bug and
keeps its traceback.
"""


class SrganError(Exception):
    """A problem with the user's input, files or configuration, explained in one line."""

    exit_code = 1


class UsageError(SrganError):
    """Bad command-line usage (exit code 2, like argparse)."""

    exit_code = 2


class OutputTooLarge(SrganError):
    """A result over the output-pixel limit, refused before any work (exit code 2: raise the limit)."""

    exit_code = 2

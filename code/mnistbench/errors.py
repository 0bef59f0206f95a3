"""Errors a user can act on.

Anything derived from :class:`Error` is reported by the command line as one line on stderr with
exit status 2: a user's mistake, a damaged file, a run that cannot go on. A traceback is kept for
bugs. This module imports nothing, so every module may use it.
"""


INTERRUPTED_STATUS = 130  # the exit status of a command stopped by Ctrl-C or SIGTERM (128 + SIGINT)


class Error(Exception):
    """A problem the user can fix: reported as one line, exit status 2."""


class UserError(Error):
    """Bad input on the command line."""


def last_line(output: str, default: str = "no output") -> str:
    """The last non-blank line of a process's output: what a failed child said last, for a one-line error."""
    return ([line for line in output.strip().splitlines() if line.strip()] or [default])[-1]

"""Errors meant for users.

A candidate's failure is never an exception: it is a `Verdict`. These exceptions are for
mistakes in what the user gave us (a problem, a path, an option) and for a missing
backend. The CLI turns them into one line and exit status 2; the notebook magic into a
`UsageError`.

    KernelmagicError
    ├── ProblemError         the reference or the input generator is unusable
    ├── CandidateError       a candidate file or source cannot be read at all
    ├── LoadError            FILE.py:NAME cannot be loaded
    ├── OptionError          an option has a value that cannot work (e.g. an unknown arch)
    ├── BackendUnavailable   the backend asked for cannot run here (says what to use)
    │   └── WorkersUnavailable   the worker processes failed to start or come back
    │       └── PoolClosed       the pool was shut down (a second Ctrl-C) while a job ran
    ├── ProposerError        the proposer's service refused (bad key, unknown model...)
    └── StoreError           the session store cannot be opened, was lost or is full, or
                             has no such session
"""

from __future__ import annotations


class KernelmagicError(Exception):
    """Base of all errors kernelmagic reports to users."""


class ProblemError(KernelmagicError):
    """The reference function or the input generator cannot define a problem."""


class CandidateError(KernelmagicError):
    """A candidate cannot be read (missing file, empty source, unknown kind)."""


class LoadError(KernelmagicError):
    """A `FILE.py:NAME` specification cannot be loaded."""


class OptionError(KernelmagicError):
    """An option's value cannot work, such as an architecture that does not exist."""


class BackendUnavailable(KernelmagicError):
    """The requested backend cannot run on this machine or for this candidate."""


class WorkersUnavailable(BackendUnavailable):
    """The worker processes failed (did not start or come back): the machine's state, not
    the candidate's doing, so a verdict reached this way is never reused."""


class PoolClosed(WorkersUnavailable):
    """The worker pool was closed while a job ran (the process is quitting): nothing was
    judged, and nothing about the candidate may be concluded or stored."""


class ProposerError(KernelmagicError):
    """A proposer cannot go on: a rejected API key, an unknown model, an unreachable server."""


class StoreError(KernelmagicError):
    """The session database cannot be used (missing, deleted or replaced under a running
    session, a full disk), or a session named in it does not exist."""


# What the user's own code (a problem file, a reference, an input generator) may raise that
# must become a clear error: sys.exit() in it would otherwise end the command, exit status 0
# (which says "correct") and no message included. KeyboardInterrupt is the user's, not it.
USER_CODE_FAILURES = (Exception, SystemExit)


def described(exc: BaseException) -> str:
    """`TypeName: message` for an exception raised by user code, even when its __str__
    raises too."""
    try:
        text = str(exc)
    except Exception as inner:
        text = f"(its message could not be shown: {type(inner).__name__})"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def syntax_error(exc: SyntaxError) -> str:
    """`line N: SyntaxError: message`, without the line where the parser gave none (a null
    byte, or nesting deeper than the interpreter parses)."""
    where = f"line {exc.lineno}: " if exc.lineno else ""
    return f"{where}SyntaxError: {exc.msg}"

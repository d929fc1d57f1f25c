"""Every exception evalseed defines, in one module that imports nothing else from evalseed.

Those under `EvalseedError` map to the command line's exit codes (docs/design.md: 1 check failed,
2 usage or input error, 3 the run could not complete); each message is one sentence for a person.
The others stay inside a run: they decide whether one case, one request or one attempt failed.
"""


class EvalseedError(Exception):
    exit_code = 3


class UsageError(EvalseedError):
    """Bad input: a suite, a flag, a model name, a database that is not ours."""

    exit_code = 2


class CheckFailed(EvalseedError):
    """The gate said no: a regression."""

    exit_code = 1


class RunAborted(EvalseedError):
    """The run cannot go on (auth failure, model not open, quota spent, budget reached)."""

    exit_code = 3


class StoreFailed(RunAborted):
    """The database could not take answered rows (a full disk, a file-size limit): the run stops
    scheduling, and what was answered is kept (see store.ResultWriter.spill)."""


class CassetteMiss(RunAborted):
    """A replayed run asked for a request no cassette holds: the run cannot give the recorded
    answers, so it stops (exit code 3) instead of storing errors for every later case."""


# ---- suites ---------------------------------------------------------------------------------------


class SuiteError(ValueError):
    """Raised by kind validators: `path` is a key path like `cases[3].expected`. The loader turns
    it into a `UsageError` line naming the file and the line."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


# ---- one case -------------------------------------------------------------------------------------


class CaseError(Exception):
    """A failure of this case alone (bad tool-call loop state, undecodable image...): stored as an
    `error` row with this message; the run goes on."""


class CallFailed(Exception):
    """A request that will not succeed: stored as the case's `error` (class and message)."""

    def __init__(self, error_class: str, message: str, attempts: int, request: dict | None = None):
        super().__init__(f"{error_class}: {message}")
        self.error_class = error_class
        self.message = message
        self.attempts = attempts
        self.request = request


class BudgetExhausted(Exception):
    """Sending this request could take the run over --budget-usd."""


# ---- one attempt (inside the engine's retry loop) -----------------------------------------------


class TransientCallError(Exception):
    """This attempt failed in a way another attempt may not: retried, after `retry_after` seconds
    when the server said so."""

    def __init__(self, error_class: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.error_class = error_class
        self.message = message
        self.retry_after = retry_after


class PermanentCallError(Exception):
    """This attempt failed in a way every attempt would: no retry, the request fails."""

    def __init__(self, error_class: str, message: str):
        super().__init__(message)
        self.error_class = error_class
        self.message = message

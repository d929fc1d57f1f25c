"""Exceptions that map to the command line's exit codes (DESIGN.md: 1 check failed, 2 usage or
input error, 3 the run could not complete). Each message is one sentence for a person."""


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

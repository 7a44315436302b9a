"""Errors a user can act on: the CLI and the pytest plugin print them as one line, no traceback."""


class MLPBenchError(Exception):
    """Base class for every error whose message alone tells the user what to fix."""


class DataError(MLPBenchError):
    """MNIST could not be found, read, verified or downloaded."""


class ConfigError(MLPBenchError):
    """An impossible setting: unknown implementation, batch size 0, epochs 0, ..."""


class UnavailableError(MLPBenchError):
    """The implementation cannot run here (missing package, no GPU); the message says why."""

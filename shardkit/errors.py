"""Exception types shared by every stage.

`ConfigError` is raised for a bad option value before any work starts (the CLI turns it into
exit status 2); `InputFileError` marks one input file that cannot become samples (it is
recorded in the failed-input report and the build goes on); `StorageUnavailableError` marks a
storage endpoint that cannot be reached or keeps failing (an environment failure: exit status 1).
"""


class ShardkitError(Exception):
    """Base class of every error shardkit raises on purpose."""


class ConfigError(ShardkitError, ValueError):
    """An option, path or URL is invalid; raised before any work is done."""


class InputFileError(ShardkitError):
    """One input file cannot be turned into samples.

    Attributes:
        reason: a short, stable reason code used for counting (e.g. ``"truncated"``).
        detail: a human explanation naming what was found.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class StorageUnavailableError(ShardkitError, OSError):
    """A storage endpoint cannot be reached, or keeps failing, after retries.

    An `OSError`, so code that already handles I/O errors (the reader's damaged-shard policy)
    handles it too. The message is one line: what was being done, the endpoint, the cause.

    Attributes:
        endpoint: the endpoint, as the user would recognise it (``http://10.0.0.5:9000``).
        action: what was being done (``reading 's3://b/train-000000.tar'``).
        cause: the last underlying error, as ``Type: message`` on one line.
    """

    def __init__(self, endpoint: str, action: str, cause: BaseException | str) -> None:
        if isinstance(cause, BaseException):
            cause = f"{type(cause).__name__}: {cause}"
        self.endpoint, self.action, self.cause = endpoint, action, " ".join(str(cause).split())
        super().__init__(f"{action}: storage endpoint {endpoint} is unavailable ({self.cause})")

    def __reduce__(self) -> tuple:
        # rebuilt from its parts when it crosses a process boundary (build workers)
        return type(self), (self.endpoint, self.action, self.cause)


def is_int(value: object) -> bool:
    """True for an int that is not a bool (for validating integer settings)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """True for an int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)

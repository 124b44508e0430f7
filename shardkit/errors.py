"""Exception types shared by every stage.

`ConfigError` is raised for a bad option value before any work starts (the CLI turns it into
exit status 2); `InputFileError` marks one input file that cannot become samples (it is
recorded in the failed-input report and the build goes on).
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


def is_int(value: object) -> bool:
    """True for an int that is not a bool (for validating integer settings)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """True for an int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)

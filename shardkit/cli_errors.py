"""The command line's error boundary: what a person sees when a command fails.

`ShardkitGroup.invoke` turns the mistakes a person makes — a bad option value, a path that
does not exist, missing S3 credentials, an S3 endpoint that does not answer, no permission —
into one or two lines on stderr naming the thing and the cause, and exit status 2; other
shardkit errors (a failed gate, a failed conversion) into one line and status 1.
``shardkit -v`` prints the traceback too. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
import traceback

import click

from shardkit.errors import ConfigError, ShardkitError

#: OS errors that are about the user's paths, not about shardkit
USER_OS_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError, FileExistsError)


class UserError(click.ClickException):
    """A message for a person, printed as ``Error: ...`` with ``exit_code`` (2: the user's input)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _urls(argv: list[str]) -> str:
    urls = [arg for arg in argv if "://" in arg]
    return ", ".join(urls) if urls else "the storage location"


def _botocore_message(exc: Exception, argv: list[str]) -> str | None:
    if "botocore" not in sys.modules:  # no botocore exception can have been raised
        return None
    from botocore import exceptions as boto

    if isinstance(exc, (boto.NoCredentialsError, boto.PartialCredentialsError)):
        return (
            f"{_urls(argv)}: no S3 credentials ({exc}); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or --storage-option key=... --storage-option secret=...)"
        )
    if isinstance(exc, (boto.EndpointConnectionError, boto.ConnectTimeoutError, boto.ReadTimeoutError)):
        return f"{_urls(argv)}: the S3 endpoint does not answer ({exc}); check AWS_ENDPOINT_URL or --storage-option endpoint_url=..."
    return None


def describe_error(exc: BaseException, argv: list[str]) -> tuple[str, int] | None:
    """``(message, exit status)`` for an error a person can fix, or None for a bug.

    Args:
        exc: the exception a command raised.
        argv: the command line (URLs in it name the storage location in S3 messages).
    """
    if isinstance(exc, ConfigError):
        return str(exc), 2
    if isinstance(exc, USER_OS_ERRORS):
        if exc.filename is not None and exc.strerror:
            return f"{exc.filename}: {exc.strerror}", 2
        return f"{type(exc).__name__}: {exc}", 2
    if isinstance(exc, Exception):
        message = _botocore_message(exc, argv)
        if message:
            return message, 2
    if isinstance(exc, ShardkitError):
        return str(exc), 1
    return None


class ShardkitGroup(click.Group):
    """The click group with the error boundary around every subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["shardkit.argv"] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a bad option value: the message and where help is
            if exc.ctx is None:
                raise
            raise UserError(f"{exc.format_message()}\nTry '{exc.ctx.command_path} --help' for help.", exc.exit_code) from exc
        except click.ClickException:
            raise
        except Exception as exc:
            described = describe_error(exc, ctx.meta.get("shardkit.argv", []))
            if described is None:
                raise
            if ctx.meta.get("shardkit.verbose"):
                traceback.print_exception(exc)
                sys.stderr.flush()
            raise UserError(*described) from exc

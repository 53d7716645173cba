"""Errors a user can cause. Library code raises these; only the CLI turns them into exit codes."""


class NpuportError(Exception):
    """A failure with a one-line message that says what, where and what next."""

    exit_code = 1


class UsageError(NpuportError):
    """Bad input from the user: unknown name, bad option value, missing path (exit 2)."""

    exit_code = 2


class CheckFailed(NpuportError):
    """A check ran and found a problem: drift, hash mismatch, failed step (exit 1)."""

    exit_code = 1


class RecipeError(UsageError):
    """A recipe file that does not match the schema; the message names the file and the key."""


class SourceError(NpuportError):
    """A source could not be fetched or verified."""


class Unreachable(SourceError):
    """The upstream could not be reached (network, missing mirror, offline with an empty cache)."""

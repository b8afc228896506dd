"""Errors a user can act on: every command and service prints their message, never a stack trace."""

from __future__ import annotations

from pydantic import ValidationError


class TransitError(Exception):
    """A problem phrased for the user who has to fix it (a missing service, a bad setting, ...)."""


def describe_validation_error(invalid: ValidationError) -> str:
    """A settings ``ValidationError`` as one line: ``field: message; field: message``."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in invalid.errors())

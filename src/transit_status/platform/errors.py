"""The embedded platform's errors; the CLI prints their message, never a stack trace."""

from __future__ import annotations

from transit_status.errors import TransitError


class PlatformError(TransitError):
    """A problem with the embedded platform, phrased for the user who has to fix it."""


class MissingDependencyError(PlatformError):
    """A program or jar the platform needs is not installed."""


class PortInUseError(PlatformError):
    """A service's port is taken by another process."""


class ServiceFailedError(PlatformError):
    """A service exited or did not become healthy in time."""

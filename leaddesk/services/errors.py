"""Errors a user action can end with. Each carries a message fit to show as it is."""

from __future__ import annotations

from leaddesk.domain.validation import ValidationError


class ServiceError(Exception):
    """A refusal with a readable, one-line reason (never a traceback for the user)."""


class NotFoundError(ServiceError, LookupError):
    pass


class ConflictError(ServiceError):
    pass


class Cancelled(ServiceError):
    """The user stopped a long action (Cancel in a progress dialog); whatever it had
    started is undone, so the desk and the files are as they were before it."""


__all__ = ["Cancelled", "ConflictError", "NotFoundError", "ServiceError", "ValidationError"]

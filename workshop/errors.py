"""Domain errors that services raise and the API turns into `{"success": false, ...}` replies.

One small exception class carrying a user-facing message and an HTTP status, so services stay
free of HTTP objects and views carry no try/except ladders. The messages are constants that
tests import.
"""

from collections.abc import Mapping, Sequence

SESSION_NOT_FOUND = "Session not found."
STUDENT_NOT_FOUND = "Student not found."
SESSION_BELONGS_TO_ANOTHER_STUDENT = "This session token belongs to another student."
SESSION_CLOSED = "This session has expired or is no longer active."


class ApplicationError(Exception):
    """A failure the client caused and can read about: a message, a status, optional fields."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        fields: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.fields = {name: list(messages) for name, messages in (fields or {}).items()}


class NotFoundError(ApplicationError):
    def __init__(self, message: str) -> None:
        super().__init__(message, status=404)


class ConflictError(ApplicationError):
    def __init__(self, message: str) -> None:
        super().__init__(message, status=409)


class GoneError(ApplicationError):
    def __init__(self, message: str) -> None:
        super().__init__(message, status=410)

"""Every sentence the API answers with, as constants that views and tests share.

Domain messages (unknown session, 409, 410) live in workshop.errors, next to the services that
raise them, and are re-exported here so clients of the API have one place to look.
"""

from workshop.errors import (
    SESSION_BELONGS_TO_ANOTHER_STUDENT,
    SESSION_CLOSED,
    SESSION_NOT_FOUND,
    STUDENT_NOT_FOUND,
)

__all__ = [
    "AI_SETTINGS_FORBIDDEN",
    "AUTHENTICATION_REQUIRED",
    "BODY_NOT_JSON",
    "BODY_NOT_UTF8",
    "BODY_TOO_LARGE",
    "BUG_REPORT_RECEIVED",
    "CONFIGURATION_SAVED",
    "DATABASE_UNAVAILABLE",
    "EVENT_LOGGED",
    "FEEDBACK_RECEIVED",
    "INSTRUCTORS_ONLY",
    "INTERNAL_ERROR",
    "INVALID_FIELDS",
    "INVALID_INPUT",
    "METHOD_NOT_ALLOWED",
    "NO_CONFIGURATION_FIELDS",
    "ONE_LOOKUP_PARAMETER",
    "PROGRESS_UPDATED",
    "ROUTE_NOT_FOUND",
    "SERVICE_TOKEN_REQUIRED",
    "SESSION_BELONGS_TO_ANOTHER_STUDENT",
    "SESSION_CLOSED",
    "SESSION_NOT_FOUND",
    "STEP_FIELDS_WITHOUT_STEP",
    "STUDENT_NOT_FOUND",
    "THROTTLED",
    "UNSUPPORTED_MEDIA_TYPE",
]

PROGRESS_UPDATED = "Progress updated successfully"
# The real frontend's calls: the old handlers' sentences, which it shows to students.
CONFIGURATION_SAVED = "Configuration saved"
BUG_REPORT_RECEIVED = "Thank you for reporting this issue! We'll look into it."
FEEDBACK_RECEIVED = "Thank you for your feedback! We really appreciate it."
EVENT_LOGGED = "Event logged successfully"

# 400
INVALID_FIELDS = "Invalid {fields}: {detail}"
INVALID_INPUT = "Invalid input: {detail}"
BODY_TOO_LARGE = "The request body is larger than 1 MB."
BODY_NOT_UTF8 = "The request body is not valid UTF-8."
BODY_NOT_JSON = "The request body is not valid JSON."
ONE_LOOKUP_PARAMETER = "Give exactly one of sessionToken, studentId or studentEmail."
STEP_FIELDS_WITHOUT_STEP = "stepNumber is required when other step fields are given."
NO_CONFIGURATION_FIELDS = "Send at least one configuration field."
# 401 / 403
AUTHENTICATION_REQUIRED = "Authentication is required: log in as an instructor."
INSTRUCTORS_ONLY = "Only instructors may look up students by email."
SERVICE_TOKEN_REQUIRED = "Authentication is required: send the voice runtime's service token."
AI_SETTINGS_FORBIDDEN = "This account may not read AI settings."
# 404 / 405 / 415 / 429
ROUTE_NOT_FOUND = "No API endpoint at this address."
METHOD_NOT_ALLOWED = "Method {method} is not allowed here."
UNSUPPORTED_MEDIA_TYPE = "Send the request body as application/json."
THROTTLED = "Too many requests: try again in {seconds} seconds."
# 5xx
DATABASE_UNAVAILABLE = "The database is not answering."
INTERNAL_ERROR = "Something went wrong on our side."

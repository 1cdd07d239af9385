"""Django's own date output (read-only fields, inline rows of the admin) in the format the
dashboards use; the format itself lives in workshop/formatting.py. Input formats stay Django's."""

from workshop.formatting import DATETIME_FORMAT

DATE_FORMAT = SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = DATETIME_FORMAT

"""The API's JSON parser: every malformed body is a 400 with a sentence, never a 500.

DRF's parser reads the request stream directly, which bypasses Django's
DATA_UPLOAD_MAX_MEMORY_SIZE check, and lets RecursionError (deeply nested arrays) escape as a
500; this one enforces the size limit itself and turns every decoding failure into a
ParseError.
"""

import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant

from progress.api.messages import BODY_NOT_JSON, BODY_NOT_UTF8, BODY_TOO_LARGE


class BodyTooLarge(ParseError):
    default_detail = BODY_TOO_LARGE


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise BodyTooLarge()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(BODY_NOT_UTF8) from exc
        try:
            return json.loads(text, parse_constant=strict_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError(BODY_NOT_JSON) from exc

"""Request bodies sent with `Transfer-Encoding: chunked`, which carry no Content-Length.

Django sizes the body by Content-Length alone, so a chunked body was read as empty: a POST
silently lost its data. Servers that de-chunk the body and end the stream where it ends say
so with `wsgi.input_terminated` (gunicorn does); the body is then read here, at most one byte
past DATA_UPLOAD_MAX_MEMORY_SIZE so an oversized body still meets the usual 400. Any other
server hands over a stream whose end we cannot know: 411 Length Required, as HTTP says.
"""

from io import BytesIO

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse, JsonResponse

LENGTH_REQUIRED = "Send the body with a Content-Length header (chunked bodies are not accepted)."


class ChunkedBodyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            if not request.META.get("wsgi.input_terminated"):
                return _length_required(request)
            _read_chunked_body(request)
        return self.get_response(request)


def _read_chunked_body(request: HttpRequest) -> None:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = request.META["wsgi.input"].read(limit + 1 if limit is not None else -1)
    request.META["CONTENT_LENGTH"] = str(len(body))
    request._stream = LimitedStream(BytesIO(body), len(body))


def _length_required(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        body = {"success": False, "error": LENGTH_REQUIRED, "fields": {}}
        return JsonResponse(body, status=411)
    return HttpResponse(LENGTH_REQUIRED, status=411, content_type="text/plain; charset=utf-8")

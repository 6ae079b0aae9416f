# ruff: noqa: N818 - named for the HTTP answer they become, as FastAPI/Starlette name theirs
"""Every failure a client can act on: one exception type each, mapped to HTTP in one place.

Routes and the core raise these; ``install`` turns them into ``{"error": code, "detail": ...}``
with the right status code. Nothing else in the uploader builds an error response, except
``server`` for the few it writes on the wire before a request reaches the app (same body).
"""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


class ApiError(Exception):
    """Base: ``status`` and ``code`` are fixed per subclass; ``detail`` is a human sentence."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, **self.extra}

    def headers(self) -> dict[str, str] | None:
        return None


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"

    def headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": 'Bearer realm="hlsforge"'}


class NotFound(ApiError):
    status = 404
    code = "not_found"


class BadPath(ApiError):
    """A delivery path that can never name a file of an output (``..``, absolute, NUL)."""

    status = 400
    code = "bad_path"


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class QuotaExceeded(ApiError):
    """A per-token quota is spent (``quota`` names it); try again after ``Retry-After``."""

    status = 429
    code = "quota_exceeded"

    def __init__(self, quota: str, detail: str, retry_after: int) -> None:
        super().__init__(detail, extra={"quota": quota, "retryAfter": retry_after})
        self.retry_after = retry_after

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after)}


class UploaderBusy(ApiError):
    """This replica streams as many uploads as its memory budget allows
    (``uploads.capacity``); unlike a quota, no one token is at fault."""

    status = 503
    code = "busy"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, extra={"retryAfter": retry_after})
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class UploadIncomplete(ApiError):
    """A direct upload was completed before its file was PUT to storage."""

    status = 409
    code = "upload_incomplete"


class SizeMismatch(ApiError):
    """A direct upload's file is not the size its ticket declared (the file was deleted)."""

    status = 422
    code = "size_mismatch"


class RangeNotSatisfiable(ApiError):
    """A ``Range`` that starts beyond the end of the file."""

    status = 416
    code = "range_not_satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(f"the range starts beyond the end of the file ({size} bytes)")
        self.size = size

    def headers(self) -> dict[str, str] | None:
        return {"Content-Range": f"bytes */{self.size}"}


class UploadStalled(ApiError):
    """The body stopped arriving mid-upload."""

    status = 408
    code = "upload_stalled"


class TooLarge(ApiError):
    status = 413
    code = "upload_too_large"


class HeadersTimeout(ApiError):
    """The request line and headers did not arrive within the header deadline (``server``)."""

    status = 408
    code = "request_timeout"


class HeadersTooLarge(ApiError):
    """The request line and headers exceed the byte or line cap (``server``)."""

    status = 431
    code = "headers_too_large"


class Overloaded(ApiError):
    """Every connection the uploader may hold is serving a request (``server``)."""

    status = 503
    code = "overloaded"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class InvalidOptions(ApiError):
    """The ladder/policy options do not validate against the TranscodeJob models."""

    status = 422
    code = "invalid_options"


class InvalidMedia(ApiError):
    """The upload is not a video we accept; ``reason`` is the engine's (e.g. ``Playlist``)."""

    status = 422
    code = "invalid_media"

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail, extra={"reason": reason})
        self.reason = reason


class IdempotencyKeyReused(ApiError):
    """The same Idempotency-Key was sent with a different body or options."""

    status = 422
    code = "idempotency_key_reused"


class IdempotencyConflict(ApiError):
    """A request with the same Idempotency-Key is still in progress."""

    status = 409
    code = "idempotency_conflict"


class NotReady(ApiError):
    status = 503
    code = "not_ready"


class StorageFailed(ApiError):
    status = 507
    code = "storage_failed"


class InsufficientStorage(ApiError):
    """The media volume has no room for this upload (and the transcodes it feeds)."""

    status = 507
    code = "insufficient_storage"


class NotSupported(ApiError):
    """A feature this deployment's storage backend does not offer (direct upload on a volume)."""

    status = 501
    code = "not_supported"


class StorageUnavailable(ApiError):
    """The object store refused or failed a read the client cannot fix."""

    status = 502
    code = "storage_unavailable"


class UpstreamFailed(ApiError):
    """The Kubernetes API refused or failed a call the client cannot fix."""

    status = 502
    code = "kubernetes_error"


def _response(exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _response(exc)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()
    )
    return _response(BadRequest(problems or "invalid request"))


def install(app: FastAPI) -> None:
    """Map every ``ApiError`` (and FastAPI's own request validation) to the JSON error body."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)

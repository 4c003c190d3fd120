"""Error answers: one JSON shape, `{"error": {"type", "message", "fields"?}}`, for every failure.

`type` is the name of the `agentchat.errors` class the Python client raises for it, so the
HTTP transport maps an answer back to the same exception the direct transport would raise.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from agentchat import errors

__all__ = ["ApiError", "error_response", "install_handlers", "status_for"]

log = logging.getLogger("agentchat.gateway")

_STATUS: list[tuple[type[errors.AgentChatError], int]] = [
    (errors.MessageTooLargeError, 413),
    (errors.InvalidMessageError, 422),
    (errors.InvalidInputsError, 422),
    (errors.InvalidTriggerError, 422),
    (errors.InvalidCursorError, 422),
    (errors.UnknownAgentError, 404),
    (errors.ChatNotFoundError, 404),  # no such chat, or one the caller may not see
    (errors.ChatRejectedError, 409),  # busy, closed, agent mismatch, nothing pending, deleting
    (errors.CursorTrimmedError, 410),
    (errors.PermissionDeniedError, 403),
    (errors.AuthenticationError, 401),
    (errors.StreamTimeoutError, 504),
    (errors.ConnectionFailedError, 503),
    (errors.ConfigurationError, 500),
]


class ApiError(Exception):
    """An error answer the gateway gives on purpose."""

    def __init__(
        self, status: int, type_name: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type_name = type_name
        self.message = message
        self.fields = fields


def status_for(exc: errors.AgentChatError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(
    status: int, type_name: str, message: str, fields: list[str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"type": type_name, "message": message}
    if fields:
        body["fields"] = fields
    return JSONResponse({"error": body}, status_code=status)


def _validation(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fields: list[str] = []
    problems: list[str] = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        where = ".".join(loc) or "body"
        if err.get("type") == "json_invalid":
            where = "body"
            problems.append(f"body: malformed JSON ({err.get('ctx', {}).get('error', 'invalid')})")
        elif err.get("type") == "extra_forbidden":
            problems.append(f"{where}: unknown field")
        else:
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        if where not in fields:
            fields.append(where)
    # A parameter that several dependencies declare is reported once per declaration.
    unique = list(dict.fromkeys(problems))
    return error_response(422, "InvalidRequestError", "; ".join(unique[:10]), fields)


def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.type_name, exc.message, exc.fields)


def _agentchat_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.AgentChatError)
    status = status_for(exc)
    if status >= 500:
        log.warning("gateway: %s: %s", type(exc).__name__, exc)
    return error_response(status, type(exc).__name__, str(exc))


def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:  # FastAPI could not decode the body (not UTF-8, say)
        return error_response(
            422, "InvalidRequestError", "body: malformed JSON (not UTF-8 text)", ["body"]
        )
    names = {404: "NotFoundError", 405: "MethodNotAllowedError"}
    response = error_response(
        exc.status_code, names.get(exc.status_code, "HTTPError"), str(exc.detail)
    )
    response.headers.update(exc.headers or {})  # 405's Allow
    return response


def _unexpected(_: Request, exc: Exception) -> Response:
    log.exception("gateway: unexpected error")
    return error_response(500, "InternalError", f"internal error: {type(exc).__name__}")


def install_handlers(app: Any) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(errors.AgentChatError, _agentchat_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

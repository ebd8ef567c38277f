"""HTTP plumbing every protocol of the inference server shares."""

from __future__ import annotations

from starlette.requests import Request

from ..errors import PayloadTooLarge

ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
"""Routes take every method and answer a wrong one with a JSON 405 themselves (Starlette's own
405 is plain text)."""


async def read_body(request: Request, max_body_bytes: int) -> bytes:
    """The request body; ``PayloadTooLarge`` as soon as it passes ``max_body_bytes`` (checked
    against ``Content-Length`` first, then while streaming, so a lying or absent length does not
    let a larger body through)."""
    too_large = PayloadTooLarge(
        f"the request body is larger than the limit of {max_body_bytes} bytes; send fewer rows "
        "per request",
        details={"limit": max_body_bytes},
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)

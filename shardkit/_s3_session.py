"""aiobotocore's HTTP session, made to time out on uploads too (imported only when s3fs is used).

aiohttp's read timeout runs only once a request is fully sent, so against an endpoint that
accepts connections and never answers an upload could wait forever, in two places:

- botocore asks uploads to wait for a "100 Continue" before sending the body. The header is
  dropped here (botocore does not sign ``expect``, so dropping it after signing is safe), and
  the read timeout then covers the wait for the response.
- a body larger than the socket buffers stalls once the peer stops reading. Each upload gets
  a deadline: connect + read timeout + its size at `MIN_UPLOAD_BYTES_PER_S`; past it, the
  request fails with botocore's `ReadTimeoutError`, which botocore retries like any other.
"""

from __future__ import annotations

import asyncio

from aiobotocore.httpsession import AIOHTTPSession
from botocore.exceptions import ReadTimeoutError

#: slowest upload tolerated before a request counts as stalled (bytes per second)
MIN_UPLOAD_BYTES_PER_S = 256 * 1024


class NoExpectContinueSession(AIOHTTPSession):
    """`AIOHTTPSession` that sends without ``Expect: 100-continue`` and bounds each upload in time."""

    async def send(self, request):
        """Drop the header; send as aiobotocore does, under a deadline when there is a body."""
        request.headers.pop("Expect", None)
        size = int(request.headers.get("Content-Length") or 0)
        if not size:
            return await super().send(request)
        deadline_s = (self._timeout.sock_connect or 0) + (self._timeout.sock_read or 0) + size / MIN_UPLOAD_BYTES_PER_S
        try:
            return await asyncio.wait_for(super().send(request), deadline_s)
        except TimeoutError as exc:
            raise ReadTimeoutError(endpoint_url=request.url, error=f"upload of {size} bytes not answered within {deadline_s:.0f} s") from exc

"""aiobotocore's HTTP session without ``Expect: 100-continue`` (imported only when s3fs is used).

botocore asks S3 uploads to wait for a "100 Continue" before sending the body, and aiohttp's
read timeout does not run during that wait: against an endpoint that accepts connections and
never answers, every upload would hang forever. Without the header, the read timeout covers
the wait for the response. The header is not signed (botocore leaves ``expect`` out of
SigV4), so removing it after signing is safe.
"""

from __future__ import annotations

from aiobotocore.httpsession import AIOHTTPSession


class NoExpectContinueSession(AIOHTTPSession):
    """`AIOHTTPSession` that sends requests without ``Expect: 100-continue``."""

    async def send(self, request):  # noqa: ANN001, ANN201 - botocore's AWSPreparedRequest → AioAWSResponse
        """Drop the header, then send as aiobotocore does."""
        request.headers.pop("Expect", None)
        return await super().send(request)

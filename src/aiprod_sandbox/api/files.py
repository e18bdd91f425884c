"""Signed result files: `GET /_sandbox/files/{job_id}.mp4?token=…` serves the sample MP4.

No key is needed (download code gets the URL from `result.video_url`), nothing is counted.
A tampered link is 403 `INVALID_SIGNATURE`, an expired one 410 `LINK_EXPIRED`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from ..errors import InvalidSignature, LinkExpired
from .operation import Call, Operation


class FileQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    token: str = Field(description="The signature from result.video_url")


async def get_file(call: Call) -> Response:
    token = call.request.query_params.get("token")
    if not token:
        raise InvalidSignature("The link has no token")
    claims = call.sandbox.links.open(call.param("job_id"), token)
    account = call.sandbox.accounts.by_ref(claims.account_ref)
    if account is None or account.jobs.find(claims.job_id) is None:
        raise LinkExpired("The link's job no longer exists")
    if account.now() >= claims.expires_at:
        raise LinkExpired()
    return Response(
        call.sandbox.catalog.sample_video,
        media_type="video/mp4",
        headers={"Content-Disposition": f'inline; filename="{claims.job_id}.mp4"'},
    )


OPERATIONS = (
    Operation(
        "GET",
        "/_sandbox/files/{job_id}.mp4",
        get_file,
        "Download a job's result video",
        "Files",
        "getResultFile",
        auth=False,
        sandbox=True,
        query_model=FileQuery,
        responses={200: (None, "The MP4 file")},
        errors=(403, 404, 410),
        media_type="video/mp4",
    ),
)

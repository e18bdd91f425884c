"""The state document over HTTP: `GET /_sandbox/state` exports the account's world, `PUT`
imports one (`core/snapshot/` holds the document and what import and export mean)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from pydantic import BaseModel, Field
from starlette.responses import Response, StreamingResponse

from ..core.snapshot import (
    StateDocument,
    StateExport,
    dumps,
    export_head,
    import_state,
    job_entry,
    prepare,
)
from .jobs import job_context
from .operation import Call, control_operation
from .responses import JSON_TYPE, json_response
from .urlpolicy import ensure_allowed

EXPORT_CHUNK = 1000  # jobs written between two returns to the loop
# An export carries the journal (512 KiB of evidence) and up to thousands of deliveries, so a
# whole account is often more than the API's 1 MiB; an import is checked in one go, holding
# the loop, so it is bounded still (16 MiB: about a second of parsing and checking).
STATE_BODY_BYTES = 16 * 1024 * 1024


class ImportOut(BaseModel):
    """What was imported (the document itself is not echoed: `GET /_sandbox/state`)."""

    imported_jobs: int
    imported_webhooks: int | None = Field(description="null: the document left them as they were")
    imported_keys: int | None = Field(description="null: the document left them as they were")


async def get_state(call: Call) -> Response:
    """The document, written a thousand jobs at a time, giving the loop back in between: an
    account of 100,000 jobs (70 MB) does not hold every other client for seconds."""
    account = call.account
    head = dumps(export_head(account, call.sandbox.scenario_library))
    assert head.endswith('"jobs":[]}'), "jobs is the document's last field"
    jobs = account.jobs.listing(sort="created_at")

    async def parts() -> AsyncIterator[bytes]:
        yield head[: -len("]}")].encode()
        for start in range(0, len(jobs), EXPORT_CHUNK):
            chunk = jobs[start : start + EXPORT_CHUNK]
            text = ",".join(dumps(job_entry(job)) for job in chunk)
            yield (("," if start else "") + text).encode()
            await asyncio.sleep(0)
        yield b"]}"

    return StreamingResponse(parts(), media_type=JSON_TYPE)


async def put_state(call: Call) -> Response:
    # the API's own field rules
    body = await call.body(StateDocument, job_context(call), limit=STATE_BODY_BYTES, in_thread=True)
    urls: dict[str, str | None] = {
        f"webhooks[{n}].url": hook.url for n, hook in enumerate(body.webhooks or [])
    }
    for n, job in enumerate(body.jobs):
        urls[f"jobs[{n}].input.callback_url"] = job.input.callback_url
    await ensure_allowed(call, urls)
    library = call.sandbox.scenario_library
    account = call.account
    prepared = await asyncio.to_thread(prepare, body)  # its lists as entries, off the loop
    async with account.control:
        call.still_allowed()
        done = import_state(
            account, prepared, registry=call.sandbox.accounts, library=library, keep=call.ctx.key
        )
        account.run_due()
    return json_response(
        ImportOut(imported_jobs=done.jobs, imported_webhooks=done.webhooks, imported_keys=done.keys)
    )


OPERATIONS = (
    control_operation(
        "GET",
        "/_sandbox/state",
        get_state,
        "Export this account's world",
        "exportState",
        responses={200: (StateExport, "The state document")},
    ),
    control_operation(
        "PUT",
        "/_sandbox/state",
        put_state,
        "Import a world into this account",
        "importState",
        request_model=StateDocument,
        responses={200: (ImportOut, "What was imported")},
        errors=(400, 401, 404, 413),
    ),
)

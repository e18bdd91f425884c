"""The sandbox console: the page at `/_sandbox/ui`, its script and style, and the read
endpoints it polls.

The page is files shipped in the package (`console/index.html`, three scripts, `app.css`:
`page.py`; no build step, nothing from outside). It is served with a Content-Security-Policy
that runs only those files: no inline script or style, no other origin, no framing, no form
posts, so a value that reaches the page (an imported job's id, a webhook URL) can be shown
but never run. Its reads go through `/_sandbox/jobs…` and `/_sandbox/console/…`, which — unlike
`GET /jobs` — are not rate limited and not journaled, so watching an integration does not
change what it sees.

The console's reads are views made for a person: a job with its delivery attempts laid out
per endpoint for the timeline picture, the delivery log a page at a time, webhooks with what
became of their deliveries, keys with their audit trail. Each attempt says whether its
`X-AIPROD-Signature` verifies against the endpoint's secret, checked here as the guide's
`verify_webhook` would (`webhook_http/signing.py`); no secret or key leaves unmasked.

Modules: `page` (the files), `checks` (signature verdicts), `timeline` (a job), `deliveries`,
`endpoints` (webhooks, keys, a request).
"""

from __future__ import annotations

from .. import jobs
from ..jobs import JobListQuery, JobOut
from ..journal import JournalEntryOut
from ..operation import control_operation
from ..pagination import Page
from .checks import verdict
from .deliveries import (
    ConsoleDeliveryQuery,
    DeliveryDetail,
    DeliveryRow,
    get_delivery,
    list_deliveries,
)
from .endpoints import EndpointList, KeyList, get_request, list_endpoints, list_keys
from .page import SCRIPTS, page, script, style
from .timeline import JobDetail, job_detail

__all__ = ["OPERATIONS", "verdict"]

OPERATIONS = (
    control_operation(
        "GET",
        "/_sandbox/ui",
        page,
        "The sandbox console (HTML)",
        "console",
        auth=False,
        errors=(),
        media_type="text/html",
        responses={200: (None, "The console page")},
    ),
    *(
        control_operation(
            "GET",
            f"/_sandbox/ui/{name}",
            script(name),
            about,
            operation_id,
            auth=False,
            errors=(),
            media_type="text/javascript",
            responses={200: (None, about)},
        )
        for name, (operation_id, about) in SCRIPTS.items()
    ),
    control_operation(
        "GET",
        "/_sandbox/ui/app.css",
        style,
        "The console's style sheet",
        "consoleStyle",
        auth=False,
        errors=(),
        media_type="text/css",
        responses={200: (None, "The console's style sheet")},
    ),
    control_operation(
        "GET",
        "/_sandbox/jobs",
        jobs.list_jobs,  # the same listing as GET /jobs, but not counted or journaled
        "This account's jobs (not counted)",
        "sandboxListJobs",
        query_model=JobListQuery,
        responses={200: (Page[JobOut], "One page of jobs")},
        errors=(400, 401),
    ),
    control_operation(
        "GET",
        "/_sandbox/jobs/{job_id}",
        job_detail,
        "A job with its timeline, deliveries and their attempts per endpoint",
        "sandboxGetJob",
        responses={200: (JobDetail, "The job")},
    ),
    control_operation(
        "GET",
        "/_sandbox/console/deliveries",
        list_deliveries,
        "The delivery log a page at a time, each with its last answer and signature check",
        "consoleListDeliveries",
        query_model=ConsoleDeliveryQuery,
        responses={200: (Page[DeliveryRow], "One page of deliveries, newest first")},
        errors=(400, 401),
    ),
    control_operation(
        "GET",
        "/_sandbox/console/deliveries/{delivery_id}",
        get_delivery,
        "One delivery, each attempt's signature checked against its endpoint's secret",
        "consoleGetDelivery",
        responses={200: (DeliveryDetail, "The delivery")},
    ),
    control_operation(
        "GET",
        "/_sandbox/console/webhooks",
        list_endpoints,
        "Webhooks and the callback endpoint, with their deliveries by outcome",
        "consoleListWebhooks",
        responses={200: (EndpointList, "Every endpoint")},
        errors=(401,),
    ),
    control_operation(
        "GET",
        "/_sandbox/console/keys",
        list_keys,
        "The account's keys (masked), each with its audit trail",
        "consoleListKeys",
        responses={200: (KeyList, "Every key")},
        errors=(401,),
    ),
    control_operation(
        "GET",
        "/_sandbox/console/requests/{request_id}",
        get_request,
        "One entry of the request journal",
        "consoleGetRequest",
        responses={200: (JournalEntryOut, "The entry")},
    ),
)

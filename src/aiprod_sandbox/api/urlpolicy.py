"""The address policy where a URL enters through the API: a webhook's `url`, a job's
`callback_url` (submit, batch, update), and both in an imported state document.

It is the policy the sender applies again at send time (`webhooks/addresses.py`): never
link-local or metadata addresses, no private ones with `--deny-private-webhooks`. Host names
are looked up with the app's resolver, all at once, each bounded to about a second (a host
that does not resolve in time is allowed here; its deliveries fail with `dns` and retry).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import urlsplit

from ..errors import PermissionDenied, ValidationFailed
from ..webhook_http.addresses import check_url
from .deliveries import dispatcher
from .operation import Call

MAX_HOSTS = 100  # distinct hosts one request may bring: each may cost a lookup


async def ensure_allowed(call: Call, urls: Mapping[str, str | None]) -> None:
    """403 `URL_NOT_ALLOWED` naming each field (`callback_url`, `jobs[2].input.callback_url`)
    whose URL the policy refuses; `urls` maps fields to URLs (None: not given)."""
    given = {field: url for field, url in urls.items() if url}
    if not given:
        return
    hosts = {url: urlsplit(url).hostname or "" for url in given.values()}
    if len(set(hosts.values())) > MAX_HOSTS:
        raise ValidationFailed(
            details={"callback_url": f"At most {MAX_HOSTS} different hosts in one request"}
        )
    resolver = dispatcher(call).resolver
    deny_private = call.ctx.settings.deny_private_webhooks
    unique = list(dict.fromkeys(given.values()))
    reasons = await asyncio.gather(
        *(check_url(url, deny_private, resolver=resolver) for url in unique)
    )
    call.still_allowed()  # the lookups took time
    by_url = dict(zip(unique, reasons, strict=True))
    refused = {field: reason for field, url in given.items() if (reason := by_url[url])}
    if refused:  # a policy on addresses, not a malformed request
        raise PermissionDenied(
            "This URL cannot receive webhooks", code="URL_NOT_ALLOWED", details=refused
        )

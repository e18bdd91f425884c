"""`GET /_sandbox/accounts`: every account the sandbox holds, for the admin token only.

What a CI step collects evidence by after a failed run (the journal and delivery log of each
account that did anything): it names accounts and counts, never a key or a secret.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from starlette.responses import Response

from ..errors import PermissionDenied
from .operation import Call, control_operation
from .responses import json_response


class AccountSummary(BaseModel):
    account_id: str
    tier: str
    fixture: bool = Field(description="Defined by a fixture file, not opened by a key")
    jobs: int
    webhooks: int
    deliveries: int
    requests: int = Field(description="Entries in its request journal (bounded)")


class AccountsOut(BaseModel):
    items: list[AccountSummary]


async def list_accounts(call: Call) -> Response:
    if not call.ctx.admin:
        raise PermissionDenied("Listing every account needs the admin token")
    items = [
        AccountSummary(
            account_id=account.account_id,
            tier=account.tier,
            fixture=account.fixture,
            jobs=len(account.jobs),
            webhooks=len(account.webhooks),
            deliveries=len(account.deliveries),
            requests=len(account.journal),
        )
        for account in call.sandbox.accounts
    ]
    return json_response(AccountsOut(items=items))


OPERATIONS = (
    control_operation(
        "GET",
        "/_sandbox/accounts",
        list_accounts,
        "Every account, with counts (admin token only)",
        "listAccounts",
        account_optional=True,
        errors=(401, 403),
        responses={200: (AccountsOut, "The accounts, least recently used first")},
    ),
)

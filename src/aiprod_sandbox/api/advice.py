"""`GET /_sandbox/advice`: the advisor's findings for this account."""

from __future__ import annotations

from dataclasses import asdict

from pydantic import BaseModel, Field
from starlette.responses import Response

from .operation import Call, control_operation
from .responses import json_response


class FindingOut(BaseModel):
    rule: str = Field(examples=["retry-before-retry-after"])
    title: str
    guide: str = Field(description="The section of the guide the rule comes from")
    why: str = Field(description="The guide's reasoning")
    fix: str
    count: int = Field(description="How many requests or deliveries show it")
    evidence: list[str] = Field(description="Request ids (req_…) or delivery ids (dlv_…)")


class AdviceOut(BaseModel):
    items: list[FindingOut]
    checked_requests: int = Field(description="Journal entries looked at (the recent ones)")


async def advice(call: Call) -> Response:
    findings = call.sandbox.advice(call.account)
    return json_response(
        AdviceOut(
            items=[FindingOut.model_validate(asdict(f)) for f in findings],
            checked_requests=len(call.account.journal),
        )
    )


OPERATIONS = (
    control_operation(
        "GET",
        "/_sandbox/advice",
        advice,
        "What to fix in this integration",
        "getAdvice",
        responses={200: (AdviceOut, "The findings")},
        errors=(400, 401),
    ),
)

"""Scenario control: `GET /_sandbox/scenarios`, `GET|PUT|DELETE /_sandbox/scenario`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from ..core.scenarios import Scenario
from ..core.schema import CATALOG_ENUM, exactly_one_of
from ..errors import ValidationFailed
from .operation import Call, control_operation
from .responses import json_response


class ScenarioSummary(BaseModel):
    name: str
    description: str
    advice: str | None
    active: bool = Field(description="On for this account (its own, or server-wide)")


class ScenarioList(BaseModel):
    items: list[ScenarioSummary]


class ScenarioIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=exactly_one_of("name", "scenario"))
    name: str | None = Field(
        default=None,
        description="A scenario from GET /_sandbox/scenarios",
        json_schema_extra={CATALOG_ENUM: "scenarios"},
    )
    scenario: Scenario | None = Field(default=None, description="An inline scenario")


class ScenarioOut(BaseModel):
    scenario: str | None = Field(description="This account's own scenario")
    server_scenarios: list[str]


def _out(call: Call) -> ScenarioOut:
    state = call.account.scenarios
    return ScenarioOut(
        scenario=state.own.name if state.own else None,
        server_scenarios=[s.name for s in state.server],
    )


async def list_scenarios(call: Call) -> Response:
    active = set(call.account.scenarios.names())
    items = [
        ScenarioSummary(
            name=s.name, description=s.description, advice=s.advice, active=s.name in active
        )
        for s in call.sandbox.scenario_library.values()
    ]
    return json_response(ScenarioList(items=items))


async def get_scenario(call: Call) -> Response:
    return json_response(_out(call))


async def put_scenario(call: Call) -> Response:
    body = await call.body(ScenarioIn)
    if (body.name is None) == (body.scenario is None):
        raise ValidationFailed(details={"name": "Give exactly one of 'name' or 'scenario'"})
    if body.name is not None:
        scenario = call.sandbox.scenario_library.get(body.name)
        if scenario is None:
            known = ", ".join(sorted(call.sandbox.scenario_library))
            raise ValidationFailed(
                f"No scenario named '{body.name}'",
                details={"name": f"Unknown scenario '{body.name}'; known: {known}"},
            )
    else:
        scenario = body.scenario
    call.account.use_scenario(scenario)
    return json_response(_out(call))


async def delete_scenario(call: Call) -> Response:
    call.account.use_scenario(None)
    return json_response(_out(call))


OPERATIONS = (
    control_operation(
        "GET",
        "/_sandbox/scenarios",
        list_scenarios,
        "The shipped scenarios",
        "listScenarios",
        responses={200: (ScenarioList, "The library")},
        errors=(400, 401),
    ),
    control_operation(
        "GET",
        "/_sandbox/scenario",
        get_scenario,
        "This account's scenario",
        "getScenario",
        responses={200: (ScenarioOut, "Active scenarios")},
        errors=(400, 401),
    ),
    control_operation(
        "PUT",
        "/_sandbox/scenario",
        put_scenario,
        "Switch a scenario on for this account",
        "putScenario",
        request_model=ScenarioIn,
        responses={200: (ScenarioOut, "Active scenarios")},
        errors=(400, 401),
    ),
    control_operation(
        "DELETE",
        "/_sandbox/scenario",
        delete_scenario,
        "Switch this account's scenario off",
        "deleteScenario",
        responses={200: (ScenarioOut, "Active scenarios")},
        errors=(400, 401),
    ),
)

"""The CDK stack and the function agree on the deployment contract (``p2pchat.settings``)."""

from __future__ import annotations

import pytest
from cdk_synth import REGION, TURN_SECRET_ARN, TURN_URLS, Synthesized, render

from infra.constructs import signaling as signaling_construct
from p2pchat import settings as contract
from p2pchat.settings import (
    LOCAL_ONLY,
    OPTIONAL,
    SET_BY_LAMBDA,
    SET_BY_STACK,
    SET_BY_STACK_FOR_TURN,
    Settings,
    Var,
)

GROUPS = {
    "SET_BY_STACK": SET_BY_STACK,
    "SET_BY_STACK_FOR_TURN": SET_BY_STACK_FOR_TURN,
    "SET_BY_LAMBDA": SET_BY_LAMBDA,
    "OPTIONAL": OPTIONAL,
    "LOCAL_ONLY": LOCAL_ONLY,
}
# What each TURN choice adds to SET_BY_STACK (settings.py: SET_BY_STACK_FOR_TURN).
TURN_VARIABLES = {
    "none": frozenset(),
    "kvs": frozenset({Var.TURN, Var.KVS_CHANNEL_ARN}),
    "secret": frozenset(
        {Var.TURN, Var.TURN_URLS, Var.TURN_SECRET_ARN, Var.TURN_CREDENTIAL_SECONDS}
    ),
}
VARIANTS = ["dev", "custom", "kvs", "secret"]


def _environment(synth: Synthesized) -> dict[str, object]:
    """The function's environment as synthesized (values may hold CloudFormation tokens)."""
    (function,) = (
        f
        for f in synth.resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == signaling_construct.HANDLER
    )
    return function["Properties"]["Environment"]["Variables"]


def test_every_variable_has_exactly_one_provider() -> None:
    """Each variable the function reads is set by the stack, by Lambda, optional (its default
    is what the cloud wants) or local only; never two of these, never none."""
    for var in Var:
        owners = [name for name, group in GROUPS.items() if var in group]
        assert len(owners) == 1, f"{var}: {owners or 'no group'}"


def test_turn_choices_cover_the_turn_variables() -> None:
    """Every variable the stack sets for TURN belongs to a choice; none is left over, and
    every choice but none says which one it is (TURN)."""
    assert set(TURN_VARIABLES) == set(contract.TURN_MODES)
    assert frozenset().union(*TURN_VARIABLES.values()) == SET_BY_STACK_FOR_TURN
    assert all(Var.TURN in TURN_VARIABLES[c] for c in contract.TURN_MODES if c != "none")


@pytest.mark.parametrize("variant", VARIANTS)
def test_stack_sets_exactly_the_stack_variables(
    variant: str, request: pytest.FixtureRequest
) -> None:
    """The CDK construct sets every SET_BY_STACK variable, the TURN choice's variables and
    nothing else (no stray names, no local-only endpoint or TURN secret in the cloud)."""
    synth: Synthesized = request.getfixturevalue(variant)
    expected = SET_BY_STACK | TURN_VARIABLES[synth.settings.turn]
    assert set(_environment(synth)) == {str(var) for var in expected}
    assert Var.TURN_SECRET not in _environment(synth)


@pytest.mark.parametrize("variant", VARIANTS)
def test_stack_values_read_back_as_the_context_settings(
    variant: str, request: pytest.FixtureRequest
) -> None:
    """What the stack sets, read by the function's own Settings.from_env (which falls back to
    a default on a bad value, and to STUN only on incomplete TURN), gives the context's
    settings back: nothing is lost on the way. Deploy-time tokens (table name, site origins,
    the channel ARN) are rendered with the tests' stand-ins."""
    synth: Synthesized = request.getfixturevalue(variant)
    env = {name: str(value) for name, value in render(_environment(synth)).items()}
    env[Var.AWS_REGION] = REGION  # Lambda sets it
    read = Settings.from_env(env)
    assert read.max_peers == synth.settings.max_peers
    assert read.ice_servers == synth.settings.ice_servers
    assert contract.ice_servers_json(read.ice_servers) == env[Var.ICE_SERVERS]
    assert read.table_name == synth.logical_id(synth.stack.table.table).lower()
    assert read.allowed_origins == contract.parse_origins(env[Var.ALLOWED_ORIGINS])
    assert read.allowed_origins and all(o.startswith("https://") for o in read.allowed_origins)
    assert read.region == REGION
    # OPTIONAL and LOCAL_ONLY: not set, so the defaults, which is what the cloud wants
    assert read.ttl_seconds == Settings().ttl_seconds
    assert read.apigw_endpoint is None and read.dynamodb_endpoint is None
    assert read.turn == synth.settings.turn
    if synth.settings.turn == "kvs":
        channel = synth.stack.get_logical_id(synth.stack.turn.channel)
        assert read.kvs_channel_arn == f"arn:{channel}"
    if synth.settings.turn == "secret":
        assert read.turn_urls == tuple(TURN_URLS)
        assert read.turn_secret_arn == TURN_SECRET_ARN
        assert read.turn_credential_seconds == 7200 == synth.settings.turn_credential_seconds
        assert read.turn_secret is None  # the value stays in Secrets Manager


def test_custom_differs_from_the_function_defaults(custom: Synthesized) -> None:
    """custom really differs from the function's defaults, so a value lost on the way from
    context to the function's environment would show in the read-back test."""
    assert custom.settings.max_peers != Settings().max_peers
    assert custom.settings.ice_servers != Settings().ice_servers


def test_config_json_policies_are_the_functions() -> None:
    """CDK context accepts exactly the transport policies site_config writes."""
    from typing import get_args

    from infra.config import TransportPolicy

    assert get_args(TransportPolicy) == contract.ICE_TRANSPORT_POLICIES
    for policy in contract.ICE_TRANSPORT_POLICIES:
        assert contract.site_config("wss://x.example/dev", policy)["iceTransportPolicy"] == policy

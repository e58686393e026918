"""The CDK stack and the function agree on the deployment contract (``p2pchat.settings``)."""

from __future__ import annotations

from cdk_synth import REGION, Synthesized, render

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


def test_stack_sets_exactly_the_stack_variables(dev: Synthesized, custom: Synthesized) -> None:
    """The CDK construct sets every SET_BY_STACK variable and nothing else (no stray names,
    no local-only endpoint in the cloud)."""
    for synth in (dev, custom):
        assert set(_environment(synth)) == {str(var) for var in SET_BY_STACK}


def test_stack_values_read_back_as_the_context_settings(
    dev: Synthesized, custom: Synthesized
) -> None:
    """What the stack sets, read by the function's own Settings.from_env (which falls back to
    a default on a bad value), gives the context's settings back: nothing is lost on the way.
    Deploy-time tokens (table name, site origins) are rendered with the tests' stand-ins."""
    for synth in (dev, custom):
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
    # custom really differs from the function's defaults, so a lost value would show
    assert custom.settings.max_peers != Settings().max_peers
    assert custom.settings.ice_servers != Settings().ice_servers


def test_config_json_policies_are_the_functions() -> None:
    """CDK context accepts exactly the transport policies site_config writes."""
    from typing import get_args

    from infra.config import TransportPolicy

    assert get_args(TransportPolicy) == contract.ICE_TRANSPORT_POLICIES
    for policy in contract.ICE_TRANSPORT_POLICIES:
        assert contract.site_config("wss://x.example/dev", policy)["iceTransportPolicy"] == policy

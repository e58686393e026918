"""Fixtures for the CDK tests: each stack variant is synthesized once per session.

- ``dev``: the stack as ``cdk synth`` builds it with no extra context (stage dev, no domain).
- ``custom``: stage prod with a custom domain, its certificate, non-default throttling and
  relay-only ICE; its assets are staged into its cdk.out, so tests can read them.
- ``kvs``: stage prod, ``turn=kvs`` (a Kinesis Video Streams channel for TURN), relay-only.
- ``secret``: stage dev, ``turn=secret`` (TURN URLs and a Secrets Manager secret ARN).
Helpers (``render``, ``signaling_url``...) live in cdk_synth.py.
"""

from __future__ import annotations

import pytest
from cdk_synth import CUSTOM_CONTEXT, KVS_CONTEXT, SECRET_CONTEXT, Synthesized, synthesize


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-dev"), {}, stage_assets=False)


@pytest.fixture(scope="session")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-custom"), CUSTOM_CONTEXT, stage_assets=True)


@pytest.fixture(scope="session")
def kvs(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-kvs"), KVS_CONTEXT, stage_assets=False)


@pytest.fixture(scope="session")
def secret(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-secret"), SECRET_CONTEXT, stage_assets=False)

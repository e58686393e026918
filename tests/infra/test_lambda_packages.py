"""Every package the function imports exists in the cloud.

The code asset is lambdas/ alone (no pip install, no bundling). In the cloud the function
finds the Python standard library, what the Lambda runtime ships, and AWS's public Powertools
layer, nothing else. This imports the handler's whole module tree in a clean interpreter (no
site, no .pth files) whose sys.path is the asset, then a folder holding only the runtime's and
the layer's packages (links into the venv's site-packages), with the environment the stack
sets, for each TURN choice (kvs builds its kinesisvideo client at init; secretsmanager and
kinesis-video-signaling come with botocore too). A package from anywhere else fails the
import, as it would in Lambda; an optional import (botocore tries certifi, and falls back to
its own CA bundle) just takes its fallback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from cdk_synth import REGION, Synthesized, render

from infra.config import LAMBDA_SOURCE_DIR
from infra.constructs import signaling as signaling_construct
from infra.lambda_runtime import LAYER_PACKAGES, RUNTIME_PACKAGES, link_cloud_packages
from p2pchat.settings import Var

_IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys
asset, site_packages = sys.argv[1], sys.argv[2]
sys.path.insert(0, asset)      # Lambda: the code asset (LAMBDA_TASK_ROOT) first
sys.path.append(site_packages)  # stands in for the runtime's SDK and the layer's /opt/python
before = set(sys.modules)
handler_module = importlib.import_module(sys.argv[3])
assert callable(getattr(handler_module, sys.argv[4])), "no handler function"
import p2pchat
for module in pkgutil.walk_packages(p2pchat.__path__, "p2pchat."):
    importlib.import_module(module.name)  # the lazily imported ones too
print(json.dumps({
    name: getattr(module, "__file__", None)
    for name, module in list(sys.modules.items()) if name not in before
}))
"""


def _loaded_modules(env: dict[str, str], site_packages: Path) -> dict[str, str | None]:
    module, function = signaling_construct.HANDLER.rsplit(".", 1)
    arguments = [str(LAMBDA_SOURCE_DIR), str(site_packages), module, function]
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _IMPORT_EVERYTHING, *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (
        "importing the function with only the Lambda runtime's and the Powertools layer's "
        "packages failed (the cloud would fail with Runtime.ImportModuleError):\n"
        + result.stderr[-3000:]
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("variant", ["dev", "kvs", "secret"])
def test_handler_imports_only_what_the_cloud_provides(
    variant: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The function's whole module tree imports with the asset, the standard library and the
    packages the Lambda runtime and the Powertools layer provide, and nothing else, with the
    environment of each TURN choice (none, kvs, secret)."""
    synth: Synthesized = request.getfixturevalue(variant)
    (function,) = (
        f
        for f in synth.resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == signaling_construct.HANDLER
    )
    env = {k: str(v) for k, v in render(function["Properties"]["Environment"]["Variables"]).items()}
    env |= {
        Var.AWS_REGION: REGION,  # set by Lambda
        "PATH": os.environ.get("PATH", ""),
        # Never reach for real credentials: importing must not call AWS.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    cloud = link_cloud_packages(tmp_path / "cloud-site-packages")
    stdlib = {Path(sysconfig.get_paths()[k]).resolve() for k in ("stdlib", "platstdlib")}
    asset = LAMBDA_SOURCE_DIR.resolve()
    packages, strangers = set(), []
    for name, file in _loaded_modules({str(k): v for k, v in env.items()}, cloud).items():
        if file is None:  # built in, or a namespace package
            continue
        path = Path(file)
        if path.is_relative_to(cloud):
            packages.add(path.relative_to(cloud).parts[0].split(".", 1)[0])
        elif not (
            path.resolve().is_relative_to(asset)
            or any(path.resolve().is_relative_to(root) for root in stdlib)
        ):
            strangers.append(f"{name} ({path})")
    assert strangers == [], "loaded from outside the asset, the stdlib and the cloud's packages"
    assert packages <= RUNTIME_PACKAGES | LAYER_PACKAGES
    # What docs/deploy.md and requirements.txt say the cloud relies on the layer for.
    assert {"aws_lambda_powertools", "pydantic"} <= packages

"""What the function finds on its path in AWS besides its own code asset, defined once.

The Lambda Python runtime ships the AWS SDK for Python with its dependencies; AWS's public
Powertools layer (the SSM parameter in constructs/signaling.py) is built as
``aws-lambda-powertools[all]`` (powertools-lambda-python, layer_v3/layer/layer_stack.py:
include_extras=True): Powertools, its dependencies, and the ``parser`` extra's pydantic 2 with
its own. The cloud gets pydantic from the layer (requirements.txt, docs/deploy.md).
Used by tests/infra/test_lambda_packages.py and bench/coldstart.py to build such a path here.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

RUNTIME_PACKAGES = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"}
)
LAYER_PACKAGES = frozenset(
    {
        "aws_lambda_powertools",
        "jmespath",
        "typing_extensions",
        "pydantic",
        "pydantic_core",
        "annotated_types",
        "typing_inspection",
    }
)


def link_cloud_packages(folder: Path) -> Path:
    """Fill `folder` with links to this venv's copies of the runtime's and the layer's
    packages only (module folders, single-file modules and their .dist-info)."""
    folder.mkdir(exist_ok=True)
    allowed = RUNTIME_PACKAGES | LAYER_PACKAGES
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        name = entry.name.split("-", 1)[0].split(".", 1)[0]  # pydantic_core-2.5.dist-info, six.py
        if name in allowed:
            (folder / entry.name).symlink_to(entry)
    return folder

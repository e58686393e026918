"""Cold start: the import of the Lambda module, `p2pchat.handler` (which builds the function
from its environment), against `import boto3`, in fresh processes with only the Lambda's
packages on the path. Method and findings: docs/benchmarks.md, section 4.

    .venv/bin/python -m bench.coldstart            # 21 samples each
    .venv/bin/python -m bench.coldstart --runs 5
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import PYTHON, ROOT, main, median, when
from infra.lambda_runtime import link_cloud_packages
from p2pchat import observability
from p2pchat.settings import Settings, Var

MARK = "@@bench-mark@@"
MODULES = {"handler": "p2pchat.handler", "boto3": "boto3"}


def lambda_env(site: Path) -> dict[str, str]:
    """The environment of a function deployed by the CDK stack, with only the Lambda's
    packages on the path: a folder of links to them (module folders, single-file modules and
    their .dist-info, so entry-point scans see what Lambda would)."""
    link_cloud_packages(site)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_"))}
    settings = Settings(
        table_name="p2pchat-coldstart", allowed_origins=frozenset({"https://x.test"})
    )
    return {
        **env,
        **settings.to_env(),
        Var.POWERTOOLS_SERVICE_NAME: observability.SERVICE,
        Var.POWERTOOLS_METRICS_NAMESPACE: observability.DEFAULT_NAMESPACE,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "PYTHONPATH": f"{ROOT / 'lambdas'}{os.pathsep}{site}",
    }


def sample(module: str, env: dict[str, str]) -> tuple[float, float, dict[str, float]]:
    """(import ms, process wall ms, {top-level package: self ms}) of a fresh process."""
    code = f"import sys; sys.stderr.write({MARK!r} + '\\n'); sys.stderr.flush(); import {module}"
    started = time.perf_counter()
    proc = subprocess.run(
        [PYTHON, "-S", "-X", "importtime", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    wall = (time.perf_counter() - started) * 1000
    if proc.returncode != 0:
        raise RuntimeError(f"import {module} failed: {proc.stderr.strip().splitlines()[-1:]}")
    packages = by_package(proc.stderr.partition(MARK)[2].splitlines())
    return sum(packages.values()), wall, packages


def by_package(lines: list[str]) -> dict[str, float]:
    """Self time (ms) of `-X importtime` lines (`import time: self | cumulative | name`) by
    top-level package, largest first: the parts add up to the whole import."""
    out: Counter[str] = Counter()
    for line in lines:
        if line.startswith("import time:") and "self [us]" not in line:
            self_us, _, name = line.split(":", 1)[1].split("|", 2)
            out[name.strip().split(".")[0]] += int(self_us) / 1000
    return dict(out.most_common())


def run(args: argparse.Namespace) -> dict:
    samples: dict[str, list] = {name: [] for name in MODULES}
    with tempfile.TemporaryDirectory(prefix="lambda-site-") as tmp:
        env = lambda_env(Path(tmp))
        for i in range(args.runs + 1):
            for name, module in MODULES.items():
                s = sample(module, env)
                if i:  # round 0 is the warm-up
                    samples[name].append(s)
    out: dict = {"runs": args.runs}
    for name, xs in samples.items():
        middle = sorted(xs, key=lambda s: s[0])[len(xs) // 2]
        out[name] = {
            "import_ms": [round(s[0], 1) for s in xs],
            "import_median_ms": median([s[0] for s in xs]),
            "process_wall_median_ms": median([s[1] for s in xs]),
            "by_package_ms": {k: round(v, 1) for k, v in list(middle[2].items())[:8]},
        }
    out["ratio"] = out["handler"]["import_median_ms"] / out["boto3"]["import_median_ms"]
    return out


def headline(d: dict) -> str:
    return (
        f"`import p2pchat.handler` {d['handler']['import_median_ms']:.0f} ms median, "
        f"{d['ratio']:.2f}x `import boto3` ({d['boto3']['import_median_ms']:.0f} ms)"
    )


def render(d: dict) -> str:
    out = [
        f"{when(d)} {d['runs']} fresh processes per statement.",
        "",
        "| statement | import, median | fastest | fresh process, median |",
        "|---|---|---|---|",
    ]
    for name, module in MODULES.items():
        v = d[name]
        out.append(
            f"| `import {module}` | {v['import_median_ms']:.0f} ms | {min(v['import_ms']):.0f} "
            f"ms | {v['process_wall_median_ms']:.0f} ms |"
        )
    parts = ", ".join(f"{k} {v:.0f}" for k, v in d["handler"]["by_package_ms"].items())
    out += ["", f"Where the import of `p2pchat.handler` goes (self ms by package): {parts}."]
    return "\n".join(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    main("coldstart", parser, run, headline)

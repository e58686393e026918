"""Cold start: the handler module's import time against `import boto3` alone.

Each sample is a fresh `python -X importtime` process; the import time is the sum of the
cumulative times of the top-level imports made by the `-c` statement (Python's own start-up
imports are excluded with a marker). The two statements alternate, one warm-up each
(bytecode caches), then the median of the rest. Also reported: the wall time of the whole
fresh process, and which packages the handler's import spends its time in.

    .venv/bin/python -m bench.coldstart            # 21 samples each
    .venv/bin/python -m bench.coldstart --runs 30

The Lambda-like environment: AWS region and fake credentials, TABLE_NAME set, lambdas/ on
the path (as in the deployment package). Each statement runs twice: in the dev venv (the
command of the issue) and with only the Lambda's packages on the path (`python -S`, links to
boto3, Powertools, pydantic and their dependencies), which is what the function imports from.
Two candidate fixes are measured beside: PYDANTIC_DISABLE_PLUGINS=__all__ and pydantic's
defer_build (switched on globally for the measurement). Target: handler <= 1.3x boto3.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sysconfig
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.common import FAKE_AWS_ENV, LAMBDAS, PYTHON, ROOT, median, save_result

MARK = "@@bench-mark@@"
# What the deployed function has on its path: the runtime's boto3 (and its dependencies) and
# the Powertools layer (Powertools, pydantic and theirs); nothing of the dev venv.
LAMBDA_PACKAGES = (
    "boto3", "botocore", "s3transfer", "jmespath", "dateutil", "python_dateutil", "urllib3",
    "six", "aws_lambda_powertools", "pydantic", "pydantic_core", "typing_extensions",
    "annotated_types", "typing_inspection",
)  # fmt: skip
HANDLER = "import p2pchat.handler"
# A global switch standing in for `defer_build=True` in the models' configs (a candidate fix:
# pydantic then builds a model's validator when it is first used, not at import).
DEFER_BUILD = ("import pydantic; pydantic.BaseModel.model_config['defer_build'] = True; "
               + HANDLER)  # fmt: skip
# name: (statement, extra environment, only the Lambda's packages on the path?)
VARIANTS: dict[str, tuple[str, dict[str, str], bool]] = {
    "boto3": ("import boto3", {}, False),
    "handler": (HANDLER, {}, False),
    "boto3_lambda_path": ("import boto3", {}, True),
    "handler_lambda_path": (HANDLER, {}, True),
    # Candidate fixes, measured beside (Lambda path): pydantic's plugin loader scans every
    # installed distribution's entry points when the first model is built...
    "handler_no_plugins_lambda_path": (HANDLER, {"PYDANTIC_DISABLE_PLUGINS": "__all__"}, True),
    # ...and every model's validator is built at import.
    "handler_defer_build_lambda_path": (DEFER_BUILD, {}, True),
    "handler_both_fixes_lambda_path": (DEFER_BUILD, {"PYDANTIC_DISABLE_PLUGINS": "__all__"},
                                       True),
}
RATIOS = {  # ratio name: (numerator, denominator)
    "ratio_import": ("handler", "boto3"),
    "ratio_import_lambda_path": ("handler_lambda_path", "boto3_lambda_path"),
    "ratio_import_no_plugins_lambda_path": ("handler_no_plugins_lambda_path", "boto3_lambda_path"),
    "ratio_import_defer_build_lambda_path": ("handler_defer_build_lambda_path",
                                             "boto3_lambda_path"),
    "ratio_import_both_fixes_lambda_path": ("handler_both_fixes_lambda_path",
                                            "boto3_lambda_path"),
}  # fmt: skip


def lambda_like_path(into: Path) -> Path:
    """A directory of links to only the packages the Lambda has (module dirs, single-file
    modules and their .dist-info), so entry-point scans see what Lambda would."""
    site = Path(sysconfig.get_paths(vars={"base": str(ROOT / ".venv"),
                                          "platbase": str(ROOT / ".venv")})["purelib"])  # fmt: skip
    into.mkdir(parents=True, exist_ok=True)
    for entry in site.iterdir():
        stem = entry.name.split("-")[0].removesuffix(".py")
        if stem in LAMBDA_PACKAGES and not (into / entry.name).exists():
            (into / entry.name).symlink_to(entry)
    return into


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    e.update(FAKE_AWS_ENV)
    e.update({
        "PYTHONPATH": str(LAMBDAS),
        "TABLE_NAME": "p2pchat-local",
        "POWERTOOLS_SERVICE_NAME": "p2pchat",
        "POWERTOOLS_METRICS_NAMESPACE": "P2PChat",
    })  # fmt: skip
    return e


def sample(statement: str, extra_env: dict[str, str] | None = None, site: Path | None = None
           ) -> tuple[float, float, list[tuple[int, int, str]]]:  # fmt: skip
    """(import ms, process wall ms, [(self us, cumulative us, name)...]) of one fresh process."""
    code = f"import sys; sys.stderr.write({MARK!r} + '\\n'); sys.stderr.flush(); {statement}"
    t = time.perf_counter()
    e = {**env(), **(extra_env or {})}
    flags = []
    if site is not None:  # no site-packages at all, only the Lambda's packages
        flags = ["-S"]
        e["PYTHONPATH"] = f"{LAMBDAS}{os.pathsep}{site}"
    proc = subprocess.run(
        [PYTHON, *flags, "-X", "importtime", "-c", code],
        cwd=ROOT, env=e, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    wall = (time.perf_counter() - t) * 1000
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
        raise RuntimeError(f"{statement!r} failed: {tail[0]}")
    rows = []
    after = False
    for line in proc.stderr.splitlines():
        if line.strip() == MARK:
            after = True
            continue
        if not after or not line.startswith("import time:") or "self [us]" in line:
            continue
        rows.append(_split(line))
    total_us = sum(cum for _, cum, name in rows if not name.startswith(" "))
    return total_us / 1000, wall, rows


def _split(line: str) -> tuple[int, int, str]:
    """`import time:  self |  cumulative | <indent>name` -> (self, cumulative, indented name)."""
    self_us, cum_us, name = line.split(":", 1)[1].split("|", 2)
    return int(self_us), int(cum_us), name.rstrip()[1:]


def by_package(rows: list[tuple[int, int, str]]) -> dict[str, float]:
    """Self time (ms) grouped by top-level package."""
    out: dict[str, float] = defaultdict(float)
    for self_us, _, name in rows:
        root = name.strip().split(".")[0]
        out[root] += self_us / 1000
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def cumulative_by_root(rows: list[tuple[int, int, str]]) -> dict[str, float]:
    """Cumulative time (ms) of each top-level package where it was first imported (its own
    imports included; a module shared by two packages counts for the first importer)."""
    out: dict[str, tuple[int, float]] = {}
    for _, cum_us, name in rows:
        depth = (len(name) - len(name.lstrip())) // 2
        root = name.strip().split(".")[0]
        if root not in out or depth < out[root][0]:
            out[root] = (depth, cum_us / 1000)
    ranked = sorted(((k, v[1]) for k, v in out.items()), key=lambda kv: -kv[1])
    return {k: round(v, 1) for k, v in ranked[:15]}


def direct_imports(rows: list[tuple[int, int, str]], module: str) -> dict[str, float]:
    """Cumulative time (ms) of each module that `module` itself imported (one level down)."""
    buffer: list[tuple[str, float]] = []
    for _, cum_us, name in rows:
        depth = (len(name) - len(name.lstrip())) // 2
        if depth == 1:
            buffer.append((name.strip(), cum_us / 1000))
        elif depth == 0:
            if name.strip() == module:
                return {n: round(v, 1) for n, v in sorted(buffer, key=lambda kv: -kv[1])[:10]}
            buffer = []
    return {}


def slowest_modules(rows: list[tuple[int, int, str]], n: int = 12) -> list[tuple[str, float]]:
    return [(name.strip(), self_us / 1000) for self_us, _, name in
            sorted(rows, key=lambda r: -r[0])[:n]]  # fmt: skip


def run(runs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="lambda-site-") as tmp:
        return _run(runs, lambda_like_path(Path(tmp)))


def _run(runs: int, site: Path) -> dict:
    samples: dict[str, list[tuple[float, float]]] = {k: [] for k in VARIANTS}
    rows_of: dict[str, list] = {}
    errors: dict[str, str] = {}
    for i in range(runs + 1):
        for name, (statement, extra, lambda_path) in VARIANTS.items():
            if name in errors:
                continue
            try:
                imp, wall, rows = sample(statement, extra, site if lambda_path else None)
            except RuntimeError as exc:
                errors[name] = str(exc)
                continue
            if i == 0:
                continue  # warm-up: bytecode caches
            samples[name].append((imp, wall))
            rows_of.setdefault(name, []).append((imp, rows))
    out: dict = {"command": f"python -m bench.coldstart --runs {runs}", "runs": runs,
                 "errors": errors}  # fmt: skip
    for name, xs in samples.items():
        if not xs:
            continue
        imports = [x[0] for x in xs]
        walls = [x[1] for x in xs]
        mid = sorted(rows_of[name], key=lambda r: r[0])[len(rows_of[name]) // 2][1]
        out[name] = {
            "statement": VARIANTS[name][0],
            "env": VARIANTS[name][1],
            "lambda_path": VARIANTS[name][2],
            "import_ms": imports,
            "import_median_ms": median(imports),
            "process_wall_median_ms": median(walls),
            "by_package_ms": {k: round(v, 1) for k, v in list(by_package(mid).items())[:12]},
            "slowest_modules_ms": [(n, round(v, 1)) for n, v in slowest_modules(mid)],
            "cumulative_by_package_ms": cumulative_by_root(mid),
            "direct_imports_ms": direct_imports(mid, "p2pchat.handler"),
        }
    for ratio, (num, den) in RATIOS.items():
        if num in out and den in out:
            out[ratio] = out[num]["import_median_ms"] / out[den]["import_median_ms"]
    if "handler" in out and "boto3" in out:
        out["ratio_wall"] = (out["handler"]["process_wall_median_ms"]
                             / out["boto3"]["process_wall_median_ms"])  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    out = run(args.runs)
    save_result("coldstart", out)
    for name in VARIANTS:
        if name in out:
            v = out[name]
            print(f"{name} import median {v['import_median_ms']:.0f} ms, fresh process wall "
                  f"median {v['process_wall_median_ms']:.0f} ms")  # fmt: skip
            print("         by package (self ms): " + ", ".join(
                f"{k} {val:.0f}" for k, val in list(v["by_package_ms"].items())[:8]))
            print("         by package (cumulative ms, first importer): " + ", ".join(
                f"{k} {val:.0f}" for k, val in list(v["cumulative_by_package_ms"].items())[:8]))
    for name, err in out["errors"].items():
        print(f"{name}: not measured: {err}")
    if "ratio_import" in out:
        print(f"COLD START: handler import {out['handler']['import_median_ms']:.0f} ms vs boto3 "
              f"{out['boto3']['import_median_ms']:.0f} ms = {out['ratio_import']:.2f}x "
              f"(target <= 1.3x); only the Lambda's packages on the path "
              f"{out.get('ratio_import_lambda_path', float('nan')):.2f}x, with "
              f"PYDANTIC_DISABLE_PLUGINS {out.get('ratio_import_no_plugins_lambda_path', 0):.2f}x,"
              f" with defer_build "
              f"{out.get('ratio_import_defer_build_lambda_path', float('nan')):.2f}x, with both "
              f"{out.get('ratio_import_both_fixes_lambda_path', float('nan')):.2f}x")
    else:
        b = out.get("boto3", {}).get("import_median_ms")
        print(f"COLD START: handler not importable ({out['errors'].get('handler')}); "
              f"boto3 import {b:.0f} ms" if b else "COLD START: nothing measured")


if __name__ == "__main__":
    main()

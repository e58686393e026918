"""Markdown tables of the latest results (bench/results/*.json), for docs/benchmarks.md.

    .venv/bin/python -m bench.report            # print every table
    .venv/bin/python -m bench.report ttff cost  # some of them
    .venv/bin/python -m bench.report --write    # replace the tables in docs/benchmarks.md
                                                # (between <!-- begin:NAME --> and
                                                # <!-- end:NAME -->); the prose is by hand
"""

from __future__ import annotations

import json
import sys

from bench.common import RESULTS, ROOT
from bench.ttff import RATIOS

DOC = ROOT / "docs" / "benchmarks.md"


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def f0(x) -> str:
    if x is None or x != x:
        return "n/a"
    return "0" if -1 < x < 1 else f"{x:.0f}"


def f1(x) -> str:
    return "n/a" if x is None or x != x else f"{x:.1f}"


def usd(x: float) -> str:
    return f"${x:.7f}" if x < 0.01 else f"${x:,.4f}"


def when(d: dict) -> str:
    m = d["machine"]
    return (f"{m['date']}, {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, "
            f"Python {m['python']}; load average at the end {m.get('load_average_1_5_15', '?')}; "
            f"`{d['command'].replace('python -m', '.venv/bin/python -m').strip()}`")  # fmt: skip


TTFF_NAMES = ("product", "baseline", "page-on-floor", "floor", "floor-bare")
HEADLINE_RATIOS = {("product", "floor"), ("baseline", "floor")}


def ttff(d: dict) -> str:
    s = d["summaries"]
    names = [n for n in TTFF_NAMES if n in s]
    out = [f"Run: {when(d)}.", "",
           "| | calls measured | failed (no video in 20 s) | median | p95 | min | max |",
           "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name in names:
        v = s[name]
        out.append(f"| {name} | {v['calls']} | {len(v['failures'])} | {f0(v['median'])} ms "
                   f"| {f0(v['p95'])} ms | {f0(v['min'])} ms | {f0(v['max'])} ms |")
    for name, floor, prefix in RATIOS:
        if d.get(f"{prefix}_median"):
            b = "**" if (name, floor) in HEADLINE_RATIOS else ""  # the others: for reference
            out.append(f"| {b}ratio {name} / {floor}{b} | | | {b}{d[f'{prefix}_median']:.2f}x{b} "
                       f"| {b}{d[f'{prefix}_p95']:.2f}x{b} | | |")  # fmt: skip
    head = " | ".join(names)
    out += ["", "Steps (median / p95, ms; person 2 is the one opening the link):", "",
            f"| step | {head} |", "|---|" + "---|" * len(names)]  # fmt: skip
    for label in s[names[0]]["steps"]:
        cells = []
        for name in names:
            v = s[name]["steps"].get(label)
            cells.append(f"{f0(v['median'])} / {f0(v['p95'])}" if v and v["n"] else "n/a")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out += ["", "Milestones (median ms after person 2's navigation start):", "",
            f"| milestone | {head} |", "|---|" + "---|" * len(names)]  # fmt: skip
    for k in s[names[0]]["milestones"]:
        cells = [f0(s[n]["milestones"].get(k, {}).get("median")) for n in names]
        out.append(f"| {k} | " + " | ".join(cells) + " |")
    for name in names:
        v = s[name]
        out.append("")
        out.append(f"{name}: calls where both sides sent an offer: "
                   f"{v['calls_with_two_offers']} of {v['calls']}; RTCPeerConnection "
                   f"config `{json.dumps(v['pc_config'])}`; first-frame cross-check "
                   "(requestVideoFrameCallback) median "
                   f"{f0(v['median_rvfc'])} ms.")  # fmt: skip
        for fd in v.get("failed_detail", []):
            out.append(f"- failed call: offers {fd['offers']}, answered by person "
                       f"{fd['answered_by_person']}, candidates sent (person 1, person 2) "
                       f"{fd['candidates_sent']}, ICE states seen {fd['ice']}")
    return "\n".join(out)


def cost(d: dict) -> str:
    s, h, su = d["setup_and_teardown"], d["hour"], d["setup"]
    sd, hd = d["setup_dollars"], d["hour_dollars"]
    out = [f"Run: {when(d)}. {d['connected']} of {d['calls']} calls connected; medians per call. "
           f"Lambda: {d['lambda_memory_mb']} MB, arm64 (infra/). Keepalive: a ping every "
           f"{d['ping_interval_minutes']:g} min per client (frontend/js/signaling.js).", "",
           "| per call | setup + teardown (measured) | one hour of call |", "|---|---|---|",
           f"| API Gateway messages in (client -> server) | {f0(s['messages_in'])} "
           f"| {f0(h['messages_in'])} (pings) |",
           f"| API Gateway messages out (posts, 32 KB steps) | {f0(s['messages_out'])} "
           f"| {f0(h['messages_out'])} (pongs) |",
           "| API Gateway connection minutes | (part of the hour) | 120 (2 x 60) |",
           f"| Lambda invocations | {f0(s['invocations'])} | {f0(h['invocations'])} |",
           f"| Lambda billed duration (sum of ms, each rounded up) | {f0(s['billed_ms'])} ms "
           f"| {f0(h['billed_ms'])} ms |",
           f"| DynamoDB requests | {f0(s['dynamodb_requests'])} | {f0(h['dynamodb_requests'])} |",
           f"| DynamoDB read request units (AWS rules) | {f1(s['rru'])} | 0 |",
           f"| DynamoDB write request units (AWS rules) | {f1(s['wru'])} | 0 |",
           "", f"Setup alone (without teardown): routes {su['routes']}, DynamoDB operations "
           f"{su['dynamodb_ops']}; ConsumedCapacity as DynamoDB Local reported it: "
           f"{f1(su['rru_reported'])} read, {f1(su['wru_reported'])} write units (AWS rules: "
           f"{f1(su['rru'])} and {f1(su['wru'])}). Teardown: routes {d['teardown']['routes']}, "
           f"{d['teardown']['dynamodb_ops']}. Nothing was invoked in the "
           f"{d['quiet_window_seconds']:g} s watched after setup "
           f"({f0(d['quiet_window']['invocations'])} invocations).", "",
           "| dollars (us-east-1) | setup + teardown | one hour |", "|---|---|---|"]  # fmt: skip
    labels = {"apigw_messages": "API Gateway messages",
              "apigw_connection_minutes": "API Gateway connection minutes",
              "lambda_requests": "Lambda requests", "lambda_duration": "Lambda duration",
              "dynamodb_reads": "DynamoDB reads", "dynamodb_writes": "DynamoDB writes",
              "total": "**total**"}  # fmt: skip
    for k, label in labels.items():
        out.append(f"| {label} | {usd(sd[k])} | {usd(hd[k])} |")
    total = d["call_hour_total_dollars"]
    out += ["", f"One call with one hour of talk: **{usd(total)}**, i.e. about "
            f"**${total * 1e6:,.0f} per million one-hour calls**.", "",
            "The same call on the AWS sample design (one Scan of all connections and a post to "
            "every connection per message; same number of signals as measured above; Lambda "
            "duration modeled as Scan pages x measured DynamoDB time + posts in waves of "
            f"{50} x measured post time, a lower bound):", "",
            "| connected clients | posts per call setup | Scan pages per message | RRU per "
            "message | setup + connects | one hour |", "|---|---|---|---|---|---|"]  # fmt: skip
    for row in d["sample_design"]:
        out.append(f"| {row['clients']:,} | {row['setup']['messages_out']:,.0f} | "
                   f"{row['scan_pages']} | {row['rru_per_message']:g} | "
                   f"{usd(row['setup_dollars']['total'])} | "
                   f"{usd(row['hour_dollars']['total'])} |")  # fmt: skip
    k = d["kvs"]
    out += ["", f"Kinesis Video Streams signaling channel for the same call "
            f"({f0(d['sdp_ice_messages'])} SDP/ICE messages, billed when sent and when received "
            f"= {f0(k['signaling_messages_billed'])}): **{usd(k['setup_dollars']['total'])}** "
            f"with one channel per room (the $0.03 active-channel month dominates), "
            f"{usd(k['setup_dollars']['total_channel_reused_100x_a_month'])} if one channel "
            f"serves 100 calls a month; the hour costs nothing more on a direct path, "
            f"{usd(k['hour_dollars_if_turn_relayed'])} if both peers relay through its TURN "
            f"(2 x 60 streaming minutes)."]  # fmt: skip
    return "\n".join(out)


def scale(d: dict) -> str:
    s, b = d["summary"]["small"], d["summary"]["big"]
    fb = d["fill"]["big"]
    out = [f"Run: {when(d)}. Fill: {fb['rooms']:,} rooms ({fb['items']:,} items) by "
           f"BatchWriteItem in {fb['seconds']:.0f} s; then {d['rounds']} alternating rounds of "
           f"{d['pairs_per_round']} fresh pairs, {d['signals_each_way']} signals each way.", "",
           "| rooms in the table | DynamoDB requests per join | per signal | RRU / WRU per join "
           "| RRU per signal | handler median per join | per signal | DynamoDB time per "
           "signal |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for v in (s, b):
        out.append(f"| {v['rooms']:,} | {v['join_requests_per']:.2f} | "
                   f"{v['signal_requests_per']:.2f} | {v['join_rru_per']:g} / "
                   f"{v['join_wru_per']:g} | {v['signal_rru_per']:g} | "
                   f"{v['join_handler_ms_median']:.1f} ms | {v['signal_handler_ms_median']:.1f} ms"
                   f" | {v['signal_dynamodb_ms_median']:.1f} ms |")  # fmt: skip
    return "\n".join(out)


def coldstart(d: dict) -> str:
    out = [f"Run: {when(d)}.", "",
           "| statement | import time, median | ratio to `import boto3` | fastest sample (ratio) "
           "| fresh process, median |", "|---|---|---|---|---|"]  # fmt: skip
    labels = {
        "boto3": "`import boto3` (dev venv, the issue's command)",
        "handler": "`import p2pchat.handler` (dev venv)",
        "boto3_lambda_path": "`import boto3`, only the Lambda's packages on the path",
        "handler_lambda_path": "`import p2pchat.handler`, only the Lambda's packages",
        "handler_no_plugins_lambda_path": "same, with `PYDANTIC_DISABLE_PLUGINS=__all__`",
        "handler_defer_build_lambda_path": "same, with `defer_build=True` for every model",
        "handler_both_fixes_lambda_path": "same, with both",
    }
    base = {"boto3": "boto3", "handler": "boto3"}
    for k, label in labels.items():
        if k in d:
            den = d.get(base.get(k, "boto3_lambda_path"), {}).get("import_median_ms")
            ratio = f"{d[k]['import_median_ms'] / den:.2f}x" if den else ""
            if k.startswith("handler"):
                ratio = f"**{ratio}**"
            low = min(d[k]["import_ms"])
            den_key = base.get(k, "boto3_lambda_path")
            den_low = min(d[den_key]["import_ms"]) if den_key in d else None
            low_ratio = f" ({low / den_low:.2f}x)" if den_low else ""
            out.append(f"| {label} | {f0(d[k]['import_median_ms'])} ms | {ratio} | "
                       f"{f0(low)} ms{low_ratio} | {f0(d[k]['process_wall_median_ms'])} ms |")
    if "handler_lambda_path" in d or "handler" in d:
        h = d.get("handler_lambda_path") or d["handler"]
        cum = list(h.get("cumulative_by_package_ms", {}).items())[:8]
        direct = h.get("direct_imports_ms", {})
        if direct:
            out += ["", "With only the Lambda's packages: what `p2pchat.handler` imports, "
                    "cumulative (each includes what it pulls in first): "
                    + ", ".join(f"`{k}` {v:.0f} ms" for k, v in direct.items()) + "."]
        out += ["", "Handler import, cumulative by package (first importer): "
                + ", ".join(f"{k} {v:.0f} ms" for k, v in cum) + ".",
                "", "Slowest modules of the handler import (self time): "
                + ", ".join(f"{n} {v:.0f} ms" for n, v in h["slowest_modules_ms"][:8]) + "."]
    return "\n".join(out)


def throughput(d: dict) -> str:
    rows = [("saturated: every client keeps one signal in flight", d)]
    if d.get("paced"):
        rows.append((f"paced at half that rate ({d['paced']['mode'].split()[-1]})", d["paced"]))
    out = [f"Run: {when(d)}. {d['clients']} clients in {d['rooms']} rooms (joined in "
           f"{d['join_seconds']:.1f} s), {d['seconds']:.0f} s measured after a warm-up.", "",
           "| load | signals relayed per second | latency p50 | p99 | max | lost (5 s) |",
           "|---|---|---|---|---|---|"]  # fmt: skip
    for label, r in rows:
        out.append(f"| {label} | {r['signals_per_second']:.0f} | {r['p50_ms']:.1f} ms | "
                   f"{r['p99_ms']:.1f} ms | {f0(r['max_ms'])} ms | {r['timeouts']} |")
    out += ["", "Peak resident memory (VmHWM) of the `make run` processes: " + ", ".join(
        f"{k}: {v} MiB" for k, v in d["peak_rss_mib"].items())
        + f" (highest sampled sum {d['max_sampled_total_rss_mib']} MiB)."]  # fmt: skip
    return "\n".join(out)


def summary(_: dict | None = None) -> str:
    out = ["| benchmark | result | target |", "|---|---|---|"]
    t = load("ttff")
    if t and "product" in t["summaries"]:
        p, f = t["summaries"]["product"], t["summaries"].get("floor")
        ratio = (f" = **{t['ratio_median']:.2f}x / {t['ratio_p95']:.2f}x** the floor "
                 f"({f0(f['median'])} / {f0(f['p95'])} ms)") if f else ""  # fmt: skip
        for shown, prefix, phrase in (
            ("baseline", "ratio_baseline", "the baseline checkout in the same run"),
            ("floor-bare", "ratio_bare", "the floor without security headers"),
            ("page-on-floor", "ratio_page", "the product's page over the floor's relay"),
        ):
            v = t["summaries"].get(shown)
            if v and t.get(f"{prefix}_median"):
                ratio += (f"; {phrase}: {f0(v['median'])} / {f0(v['p95'])} ms = "
                          f"{t[f'{prefix}_median']:.2f}x / {t[f'{prefix}_p95']:.2f}x")  # fmt: skip
        if t.get("ratio_signaling_median"):
            ratio += (f"; product / page over the floor's relay (the signaling service's share): "
                      f"{t['ratio_signaling_median']:.2f}x / {t['ratio_signaling_p95']:.2f}x")
        out.append(f"| 1. Time to first frame, median / p95 ({p['calls']} calls each, "
                   f"{len(p['failures'])} product calls failed) | product {f0(p['median'])} / "
                   f"{f0(p['p95'])} ms{ratio} | at most 1.2x the floor |")
    c = load("cost")
    if c:
        out.append(f"| 2. Cost of a 1:1 call (us-east-1 on-demand) | setup "
                   f"{usd(c['setup_dollars']['total'])} + one hour "
                   f"{usd(c['hour_dollars']['total'])} = **{usd(c['call_hour_total_dollars'])}**"
                   f" (${c['call_hour_total_dollars'] * 1e6:,.0f} per million one-hour calls); "
                   f"AWS sample design at 100,000 clients: "
                   f"{usd(c['sample_design'][-1]['setup_dollars']['total'])} per setup; KVS: "
                   f"{usd(c['kvs']['setup_dollars']['total'])} per setup (channel-month) | |")
    sc = load("scale")
    if sc:
        a, b = sc["summary"]["small"], sc["summary"]["big"]
        out.append(f"| 3. Flat cost with scale ({a['rooms']:,} vs {b['rooms']:,} rooms) | "
                   f"DynamoDB requests per join {a['join_requests_per']:g} vs "
                   f"{b['join_requests_per']:g}, per signal {a['signal_requests_per']:g} vs "
                   f"{b['signal_requests_per']:g}; handler median per signal "
                   f"{a['signal_handler_ms_median']:.1f} vs {b['signal_handler_ms_median']:.1f} "
                   f"ms, per join {a['join_handler_ms_median']:.1f} vs "
                   f"{b['join_handler_ms_median']:.1f} ms (within the run-to-run spread, "
                   f"section 3) | the same |")
    cs = load("coldstart")
    if cs and "ratio_import" in cs:
        out.append(f"| 4. Cold start (import, median of {cs['runs']} fresh processes) | handler "
                   f"{f0(cs['handler']['import_median_ms'])} ms vs boto3 "
                   f"{f0(cs['boto3']['import_median_ms'])} ms = **{cs['ratio_import']:.2f}x** "
                   f"(only the Lambda's packages on the path: "
                   f"{cs.get('ratio_import_lambda_path', float('nan')):.2f}x) | at most 1.3x |")
    tp = load("throughput")
    if tp:
        paced = tp.get("paced")
        extra = (f"; at half that rate p50 {paced['p50_ms']:.0f} ms, p99 "
                 f"{paced['p99_ms']:.0f} ms") if paced else ""  # fmt: skip
        rss = list(tp["peak_rss_mib"].values())
        out.append(f"| 5. Local gateway, 100 clients in 50 rooms | **{tp['signals_per_second']:.0f}"
                   f" signals/s** saturated (p50 {tp['p50_ms']:.0f} ms, p99 {tp['p99_ms']:.0f} "
                   f"ms: queueing){extra}; peak RSS python "
                   f"{rss[0]} MiB + JVM {rss[-1]} MiB | |")
    return "\n".join(out)


SECTIONS = {"summary": summary, "ttff": ttff, "cost": cost, "scale": scale, "coldstart": coldstart,
            "throughput": throughput}  # fmt: skip


def write() -> None:
    text = DOC.read_text()
    for name, render in SECTIONS.items():
        d = {} if name == "summary" else load(name)
        begin, end = f"<!-- begin:{name} -->", f"<!-- end:{name} -->"
        if d is None or begin not in text:
            continue
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{render(d)}\n{end}{tail}"
    DOC.write_text(text)
    print(f"REPORT: tables written into {DOC.relative_to(ROOT)}")


def main() -> None:
    if sys.argv[1:] == ["--write"]:
        write()
        return
    names = sys.argv[1:] or list(SECTIONS)
    for name in names:
        d = {} if name == "summary" else load(name)
        print(f"\n<!-- {name} -->")
        print(SECTIONS[name](d) if d else f"({name}: no result yet)")
    print("\nREPORT: tables for " + ", ".join(names))


if __name__ == "__main__":
    main()

"""`make bench`: every benchmark against one whole system of its own, figures printed, written
to bench/results/<time>.json and bench/results/latest.json, and the README's table rewritten.

    python -m bench.run [--scale 0.1] [--bookings 200] [--rate 20] [--no-readme]
"""
import argparse
import json
import os
import platform
import re
import sys
from datetime import datetime

from bench import api, expiry, flow, outbox
from bench.harness import isolated_system, settle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
TABLE = re.compile(r"(<!-- bench:begin -->\n).*?(<!-- bench:end -->)", re.S)


def machine():
    return f"{platform.python_implementation()} {platform.python_version()}, " \
           f"{os.cpu_count()} cores, {platform.system()}"


def table(result):
    """The README's markdown table of one run."""
    rows = ["| what | clients | per second | p50 ms | p99 ms |", "|---|---|---|---|---|"]

    def add(label, runs):
        for run in runs:
            rows.append(f"| {label} | {run['clients']} | {run['per_second']} | "
                        f"{run['latency_ms']['p50']} | {run['latency_ms']['p99']} |")

    api_runs = result["api"]
    add("bare path: GET /health/booking (HTTP → gateway → RPC ping)", api_runs["bare_rpc"])
    add("GET /api/halls", api_runs["halls"])
    add("GET availability, one hall, 31 days", api_runs["availability_31_days"])
    add("POST /api/bookings, distinct slots", api_runs["create_booking"])
    add("outbox path: commit + event → handled by a consumer", result["outbox"])
    add("mock webhook accepted → payment.succeeded published (paid as fast as the clients go)",
        [result["webhooks"]])
    flow_run = result["flow"]
    load = f"{flow_run['bookings']} paid at {flow_run['rate_per_second']:g}/s"
    for label, key in (("mock webhook → payment.succeeded published", "webhook_to_published_ms"),
                       ("webhook → booking.confirmed logged", "webhook_to_confirmed_logged_ms"),
                       ("webhook → notification recorded", "webhook_to_notification_ms")):
        if flow_run.get(key):
            rows.append(f"| {label} ({load}) | – | – | {flow_run[key]['p50']} | "
                        f"{flow_run[key]['p99']} |")
    cpu = flow_run.get("cpu_ms_per_paid_booking") or {}
    cpu_line = ", ".join(f"{name} {ms:g}" for name, ms in cpu.items())
    bare = {run["clients"]: run["per_second"] for run in api_runs["bare_rpc"]}
    ratios = ", ".join(f"c={run['clients']}: {run['per_second'] / bare[run['clients']]:.2f}×"
                       for run in api_runs["create_booking"] if run["clients"] in bare)
    return "\n".join(rows) + f"\n\nBooking creation against the bare path: {ratios}.\n" \
        f"CPU per paid booking, ms: {cpu_line} (total " \
        f"{sum(cpu.values()):.0f} ms).\n" \
        f"Measured {result['at']} on {result['machine']} with `make bench`.\n"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="fraction of the API requests to send (0.1 for a quick look)")
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--only", choices=("api", "outbox", "webhooks", "flow", "expiry"),
                        help="one benchmark, printed only (nothing written)")
    args = parser.parse_args(argv)
    benchmarks = {"api": lambda bench: api.measure(bench, args.scale),
                  "outbox": lambda bench: outbox.measure(bench, args.scale),
                  "webhooks": lambda bench: flow.measure_webhooks(
                      bench, max(20, int(400 * args.scale))),
                  "flow": lambda bench: flow.measure(bench, args.bookings, args.rate),
                  "expiry": lambda bench: expiry.run(bench.uris["booking"], bench.config)}

    with isolated_system("run") as bench:
        result = {"at": datetime.now().astimezone().isoformat(timespec="seconds"),
                  "machine": machine()}
        for name, measure in benchmarks.items():
            if args.only in (None, name):
                settle(bench)
                result[name] = measure(bench)
                print(json.dumps(result[name], indent=2), flush=True)
    if args.only:
        return

    results = os.path.join(ROOT, "bench", "results")
    os.makedirs(results, exist_ok=True)
    for name in (f"{datetime.now():%Y%m%d-%H%M%S}.json", "latest.json"):
        with open(os.path.join(results, name), "w") as f:
            json.dump(result, f, indent=2)
    print(table(result))
    if not args.no_readme and os.path.exists(README):
        with open(README) as f:
            text = f.read()
        with open(README, "w") as f:
            f.write(TABLE.sub(lambda m: m[1] + table(result) + m[2], text))
        print("README.md's benchmark table updated; figures in bench/results/latest.json")


if __name__ == "__main__":
    main(sys.argv[1:])

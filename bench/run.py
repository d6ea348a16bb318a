"""`make bench`: every benchmark against one whole system of its own, figures printed, written
to bench/results/<time>.json and bench/results/latest.json, compared with the run before, the
issue's goals checked, and the README's table rewritten.

    python -m bench.run [--scale 0.1] [--bookings 200] [--rate 20] [--no-readme] [--only api]
"""
import argparse
import json
import os
import platform
import re
import sys
from datetime import datetime

from bench import api, consumer, expiry, flow, live, outbox
from bench.harness import isolated_system, settle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
RESULTS = os.path.join(ROOT, "bench", "results")
TABLE = re.compile(r"(<!-- bench:begin -->\n).*?(<!-- bench:end -->)", re.S)
# The processes of a CPU line, in the order they are printed.
PROCESSES = ("gateway", "booking", "payments", "integration", "notifications", "rabbitmq",
             "postgres")


def machine():
    return f"{platform.python_implementation()} {platform.python_version()}, " \
           f"{os.cpu_count()} cores, {platform.system()}"


def _runs(result, kind):
    return {run["clients"]: run for run in result.get("api", {}).get(kind, [])}


def _batches(result):
    return {run["batch_size"]: run for run in result.get("consumer", [])}


def _cpu(run, key="cpu_ms"):
    """A run's CPU per operation net of the idle system's when measured, else as counted."""
    return run.get(f"{key}_net") or run.get(key)


def figures(result):
    """The run's headline figures, flat: {name: value}, for comparing runs."""
    found = {}
    for kind, label in (("bare_rpc", "bare path"), ("create_booking", "create booking")):
        for clients, run in _runs(result, kind).items():
            found[f"{label} c={clients} req/s"] = run["per_second"]
            found[f"{label} c={clients} p99 ms"] = run["latency_ms"]["p99"]
            if "cpu_ms" in run:
                found[f"{label} c={clients} CPU ms (ours)"] = _cpu(run)["ours"]
    for size, run in _batches(result).items():
        found[f"consumer batch {size} events/s"] = run["per_second"]
        found[f"consumer batch {size} CPU ms/event (ours)"] = _cpu(run, "cpu_ms_per_event")["ours"]
    flow_run = result.get("flow") or {}
    paid = _cpu(flow_run, "cpu_ms_per_paid_booking") or {}
    if "ours" in paid:
        found["paid booking CPU ms (ours)"] = paid["ours"]
    for key in ("webhook_to_confirmed_logged_ms", "webhook_to_notification_ms"):
        if flow_run.get(key):
            found[f"{key[:-3]} p99 ms"] = flow_run[key]["p99"]
    return found


def ratios(result, previous):
    """Each figure over the same figure of the run before."""
    if not previous:
        return {}
    now, before = figures(result), figures(previous)
    return {name: round(value / before[name], 2) for name, value in now.items()
            if before.get(name)}


def goals(result):
    """The issue's goals (#11): (goal, measured, met)."""
    checks = []
    create = _runs(result, "create_booking").get(32)
    bare = _runs(result, "bare_rpc").get(32)
    if create and "cpu_ms" in create:
        cpu = _cpu(create)
        checks += [("CPU per booking created ≤ 12 ms (ours; c=32)", cpu["ours"], cpu["ours"] <= 12),
                   ("python CPU per booking created ≤ 7 ms", cpu["python"], cpu["python"] <= 7)]
    if create and bare:
        share = create["per_second"] / bare["per_second"]
        checks += [("booking creation ≥ 0.3× the bare path at c=32", round(share, 2),
                    share >= 0.3),
                   ("booking creation p99 ≤ 250 ms at c=32", create["latency_ms"]["p99"],
                    create["latency_ms"]["p99"] <= 250)]
    paid = (_cpu(result.get("flow") or {}, "cpu_ms_per_paid_booking") or {}).get("ours")
    if paid is not None:
        checks.append(("CPU per paid booking ≤ 80 ms (ours)", paid, paid <= 80))
    batched = _batches(result).get(32)
    if batched:
        per_event = _cpu(batched, "cpu_ms_per_event")["integration"]
        checks += [("one consumer logging ≥ 1500 events/s (batch 32)", batched["per_second"],
                    batched["per_second"] >= 1500),
                   ("its CPU per event ≤ 0.7 ms (batch 32)", per_event, per_event <= 0.7)]
    flow_run = result.get("flow") or {}
    for key, limit, label in (("webhook_to_confirmed_logged_ms", 150, "booking.confirmed"),
                              ("webhook_to_notification_ms", 250, "notification recorded")):
        if flow_run.get(key):
            p99 = flow_run[key]["p99"]
            checks.append((f"webhook → {label} p99 ≤ {limit} ms at "
                           f"{flow_run['rate_per_second']:g} paid/s", p99, p99 <= limit))
    return checks


def cpu_line(cpu):
    parts = [f"{name} {cpu[name]:g}" for name in PROCESSES if name in cpu]
    return (", ".join(parts) + f"; ours {cpu['ours']:g} (python {cpu['python']:g}), "
            f"machine {cpu['machine']:g}")


def table(result):
    """The README's markdown table of one run."""
    rows = ["| what | clients | per second | p50 ms | p99 ms | CPU ms per op (ours) |",
            "|---|---|---|---|---|---|"]

    def add(label, runs):
        for run in runs:
            cpu = (_cpu(run) or {}).get("ours", "–")
            rows.append(f"| {label} | {run['clients']} | {run['per_second']} | "
                        f"{run['latency_ms']['p50']} | {run['latency_ms']['p99']} | {cpu} |")

    api_runs = result.get("api") or {}
    add("bare path: GET /health/booking (HTTP → gateway → RPC ping)", api_runs.get("bare_rpc", []))
    add("GET /api/halls", api_runs.get("halls", []))
    add("GET availability, one hall, 31 days", api_runs.get("availability_31_days", []))
    add("POST /api/bookings, distinct slots", api_runs.get("create_booking", []))
    add("outbox path: commit + event → handled by a consumer", result.get("outbox", []))
    for run in result.get("consumer", []):
        rows.append(f"| one consumer logging events (integration), batch {run['batch_size']} "
                    f"| – | {run['per_second']} | – | – | {_cpu(run, 'cpu_ms_per_event')['ours']} |")
    if result.get("webhooks"):
        add("mock webhook accepted → payment.succeeded published (paid as fast as the clients "
            "go)", [result["webhooks"]])
    flow_run = result.get("flow") or {}
    if flow_run:
        load = f"{flow_run['bookings']} paid at {flow_run['rate_per_second']:g}/s"
        for label, key in (
                ("mock webhook → payment.succeeded published", "webhook_to_published_ms"),
                ("webhook → booking.confirmed logged", "webhook_to_confirmed_logged_ms"),
                ("webhook → notification recorded", "webhook_to_notification_ms")):
            if flow_run.get(key):
                rows.append(f"| {label} ({load}) | – | – | {flow_run[key]['p50']} | "
                            f"{flow_run[key]['p99']} | – |")
    lines = ["\n".join(rows), ""]
    create = _runs(result, "create_booking").get(32)
    if create and "cpu_ms" in create:
        lines.append(f"CPU per booking created (c=32), ms: {cpu_line(_cpu(create))}.")
    bare = _runs(result, "bare_rpc").get(8)
    if bare and "cpu_ms" in bare:
        lines.append(f"CPU per bare-path request (c=8), ms: {cpu_line(_cpu(bare))}.")
    if flow_run.get("cpu_ms_per_paid_booking"):
        lines.append("CPU per paid booking (created → paid → confirmed → messages), ms: "
                     f"{cpu_line(_cpu(flow_run, 'cpu_ms_per_paid_booking'))}.")
    lines.append("")
    for goal, measured, met in goals(result):
        lines.append(f"- {'met' if met else '**not met**'}: {goal} (measured {measured})")
    if result.get("ratios"):
        lines += ["", "Against the run before: " + ", ".join(
            f"{name} {ratio}×" for name, ratio in result["ratios"].items()) + "."]
    lines += ["", "\"ours\" is our processes, RabbitMQ and our databases' PostgreSQL backends; "
              "RabbitMQ and \"machine\" also carry whatever else runs on the machine. CPU "
              "figures are net of what each process spent idle over the same time (measured "
              "for 3 s before each run) where the run has `cpu_ms_net`.",
              f"Measured {result['at']} on {result['machine']} with `make bench`.", ""]
    return "\n".join(lines)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="fraction of the load to send (0.3 for a quick look)")
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--only", type=lambda value: value.split(","),
                        help="some of api,consumer,outbox,webhooks,flow,expiry,live (comma-separated), "
                             "printed only (nothing written)")
    args = parser.parse_args(argv)
    benchmarks = {"api": lambda bench: api.measure(bench, args.scale),
                  "consumer": lambda bench: consumer.measure(bench, args.scale),
                  "outbox": lambda bench: outbox.measure(bench, args.scale),
                  "webhooks": lambda bench: flow.measure_webhooks(
                      bench, max(20, int(400 * args.scale))),
                  "flow": lambda bench: flow.measure(bench, args.bookings, args.rate),
                  "expiry": lambda bench: expiry.run(bench.uris["booking"], bench.config),
                  "live": lambda bench: live.run(bench, max(20, int(200 * args.scale)),
                                                 args.rate)}

    with isolated_system("run") as bench:
        result = {"at": datetime.now().astimezone().isoformat(timespec="seconds"),
                  "machine": machine()}
        for name, measure in benchmarks.items():
            if args.only is None or name in args.only:
                settle(bench)
                result[name] = measure(bench)
                print(json.dumps(result[name], indent=2), flush=True)
    if args.only:
        for goal, measured, met in goals(result):
            print(f"{'met' if met else 'NOT MET'}: {goal} (measured {measured})")
        return

    latest = os.path.join(RESULTS, "latest.json")
    previous = None
    if os.path.exists(latest):
        with open(latest) as f:
            previous = json.load(f)
    result["ratios"] = ratios(result, previous)
    os.makedirs(RESULTS, exist_ok=True)
    for name in (f"{datetime.now():%Y%m%d-%H%M%S}.json", "latest.json"):
        with open(os.path.join(RESULTS, name), "w") as f:
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

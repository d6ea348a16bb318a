"""HTTP load with wrk (a C load generator, so the load does not eat the CPU it measures):
a fixed duration at c clients, the requests counted, latency percentiles and requests/s."""
import json
import os
import subprocess

LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lua")


def wrk(base_url, path, clients, seconds, script="get.lua", env=None):
    """Run wrk; returns {clients, requests, errors, per_second, latency_ms}. Errors are
    connections refused or answers that are not 2xx/3xx."""
    threads = min(2, clients)
    answer = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s",
         "-s", os.path.join(LUA, script), base_url + path],
        env={**os.environ, "BENCH_LUA_DIR": LUA, "BENCH_THREADS": str(threads), **(env or {})},
        capture_output=True, text=True, check=True)
    summary = json.loads(answer.stdout.strip().splitlines()[-1])
    if summary["errors"]:
        # Not fatal: PostgreSQL's connections are shared with everyone's tests, and a moment
        # of "too many clients" must not throw the whole run away. The count is reported.
        print(f"wrk {path} c={clients}: {summary['errors']} errors\n{answer.stderr}",
              flush=True)
    return {"clients": clients, "requests": summary["requests"], "errors": summary["errors"],
            "per_second": round(summary["requests"] * 1e6 / summary["duration_us"], 1),
            "latency_ms": {"p50": round(summary["p50_us"] / 1000, 1),
                           "p99": round(summary["p99_us"] / 1000, 1),
                           "max": round(summary["max_us"] / 1000, 1)}}

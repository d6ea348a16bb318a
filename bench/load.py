"""HTTP load with wrk (a C load generator, so the load does not eat the CPU it measures):
a fixed duration at c clients, the requests counted, latency percentiles and requests/s."""
import json
import os
import subprocess

LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lua")


def wrk(base_url, path, clients, seconds, script="get.lua", env=None):
    """Run wrk; returns {clients, requests, per_second, latency_ms}. Any error (a connection
    refused, a status that is not 2xx/3xx) fails the benchmark: it would not be measuring
    what it says."""
    threads = min(2, clients)
    answer = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s",
         "-s", os.path.join(LUA, script), base_url + path],
        env={**os.environ, "BENCH_LUA_DIR": LUA, "BENCH_THREADS": str(threads), **(env or {})},
        capture_output=True, text=True, check=True)
    summary = json.loads(answer.stdout.strip().splitlines()[-1])
    if summary["errors"]:
        raise RuntimeError(f"wrk {path} c={clients}: {summary['errors']} errors\n{answer.stdout}"
                           f"{answer.stderr}")
    return {"clients": clients, "requests": summary["requests"],
            "per_second": round(summary["requests"] * 1e6 / summary["duration_us"], 1),
            "latency_ms": {"p50": round(summary["p50_us"] / 1000, 1),
                           "p99": round(summary["p99_us"] / 1000, 1),
                           "max": round(summary["max_us"] / 1000, 1)}}

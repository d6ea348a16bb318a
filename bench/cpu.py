"""CPU accounting from the kernel: utime + stime of each process (/proc/<pid>/stat) and the
machine's total busy time (/proc/stat), read before and after a fixed amount of work.

On a shared machine throughput moves with everyone else's load; the CPU a process spent on a
known number of operations does not, so that is the figure. RabbitMQ (beam.smp) and the
PostgreSQL server are shared with whatever else runs here: their share is reported, but only
our databases' backends are counted as ours (a backend's title names its database).
"""
import os
import time
from dataclasses import dataclass, field

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    """(comm, utime + stime in seconds) of one process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1:raw.rindex(")")]
    fields = raw.rsplit(")", 1)[1].split()
    return comm, (int(fields[11]) + int(fields[12])) / TICKS


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def machine_busy_seconds():
    """All CPUs' non-idle time since boot (user nice system irq softirq steal)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICKS


@dataclass
class Snapshot:
    services: dict                      # name -> seconds
    postgres_ours: dict                 # pid -> seconds (backends of our databases)
    postgres_all: dict                  # pid -> seconds (every postgres process)
    rabbitmq: dict                      # pid -> seconds
    machine: float
    at: float = field(default_factory=time.monotonic)


def snapshot(service_pids, db_prefix):
    """`service_pids`: {name: pid} of our processes; `db_prefix`: our databases' prefix."""
    services = {}
    for name, pid in service_pids.items():
        stat = _stat(pid)
        services[name] = stat[1] if stat else 0.0
    postgres_ours, postgres_all, rabbitmq = {}, {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _stat(entry)
        if stat is None:
            continue
        comm, seconds = stat
        if comm == "beam.smp":
            rabbitmq[entry] = seconds
        elif comm.startswith("postgres"):
            postgres_all[entry] = seconds
            if f" {db_prefix}_" in _cmdline(entry):
                postgres_ours[entry] = seconds
    return Snapshot(services, postgres_ours, postgres_all, rabbitmq, machine_busy_seconds())


def _spent(before, after):
    """CPU between two {pid: seconds}: processes born in between count from zero; ones that
    died in between are lost (a few short-lived backends at most)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def spent(before, after):
    """CPU seconds between two snapshots: each service, RabbitMQ, our PostgreSQL backends,
    every PostgreSQL process and the machine."""
    used = {name: after.services[name] - before.services.get(name, 0.0)
            for name in after.services}
    used.update({"rabbitmq": _spent(before.rabbitmq, after.rabbitmq),
                 "postgres": _spent(before.postgres_ours, after.postgres_ours),
                 "postgres_all": _spent(before.postgres_all, after.postgres_all),
                 "machine": after.machine - before.machine})
    return used


def per_operation(before, after, operations, idle=None):
    """CPU ms per operation: each service, RabbitMQ, our PostgreSQL backends, `python` (the
    services), `ours` (python + RabbitMQ + our backends), every PostgreSQL process and the
    machine (both include other people's work). With `idle` (two snapshots of the quiet
    system), what each process spends while idle (timers, other people's load on the shared
    RabbitMQ) over the same time is taken off first: the figure is the operations' own."""
    used = spent(before, after)
    if idle is not None:
        seconds = after.at - before.at
        quiet = spent(*idle)
        rate = {name: value / max(1e-3, idle[1].at - idle[0].at) for name, value in quiet.items()}
        used = {name: max(0.0, value - rate.get(name, 0.0) * seconds)
                for name, value in used.items()}
    ms = lambda seconds: round(seconds * 1000 / operations, 2)  # noqa: E731
    python = sum(used[name] for name in after.services)
    result = {name: ms(value) for name, value in used.items()}
    result.update({"python": ms(python),
                   "ours": ms(python + used["rabbitmq"] + used["postgres"])})
    return result

"""CPU accounting from the kernel: utime + stime of each process (/proc/<pid>/stat) and the
machine's total busy time (/proc/stat), read before and after a fixed amount of work.

On a shared machine throughput moves with everyone else's load; the CPU a process spent on a
known number of operations does not, so that is the figure. RabbitMQ (beam.smp) and the
PostgreSQL server are shared with whatever else runs here: their share is reported, but only
our databases' backends are counted as ours (a backend's title names its database).
"""
import os
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
    extra: dict = field(default_factory=dict)


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


def per_operation(before, after, operations):
    """CPU ms per operation: each service, RabbitMQ, our PostgreSQL backends, `ours` (their
    sum), every PostgreSQL process and the machine (both include other people's work)."""
    ms = lambda seconds: round(seconds * 1000 / operations, 2)  # noqa: E731
    result = {name: ms(after.services[name] - before.services.get(name, 0.0))
              for name in after.services}
    python = sum(after.services[n] - before.services.get(n, 0.0) for n in after.services)
    rabbit = _spent(before.rabbitmq, after.rabbitmq)
    postgres = _spent(before.postgres_ours, after.postgres_ours)
    result.update({
        "python": ms(python), "rabbitmq": ms(rabbit), "postgres": ms(postgres),
        "ours": ms(python + rabbit + postgres),
        "postgres_all": ms(_spent(before.postgres_all, after.postgres_all)),
        "machine": ms(after.machine - before.machine),
    })
    return result

"""Starting and stopping the whole system: every service and the gateway as its own
`nameko run` process (so they use every core), `<NAME>_PROCESSES` of each (default 1: e.g.
BOOKING_PROCESSES=2), competing for the same queues. Used by `make run`, the tests and the
benchmarks; `Restarts` brings back a process that died."""
import os
import signal
import socket
import subprocess
import sys
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICES = {
    "booking": "services.booking.service:BookingService",
    "payments": "services.payments.service:PaymentsService",
    "integration": "services.integration.service:IntegrationService",
    "notifications": "services.notifications.service:NotificationsService",
    "gateway": "gateway.service:GatewayService",
}

# Tests and benchmarks send every request from 127.0.0.1, far above any one client's rate:
# their systems raise the per-IP rate limits and the unpaid-hold limits out of the way.
LOAD_TEST_LIMITS = {
    **{f"RATE_LIMIT_{name}": "1000000/minute"
       for name in ("BOOKINGS", "PAYMENTS", "QUOTE", "AVAILABILITY")},
    # unpaid holds per phone, e-mail and address: 0 is no limit
    **{f"MAX_HOLDS_PER_{kind}": "0" for kind in ("PHONE", "EMAIL", "IP")}}


def free_port():
    """A TCP port that is free on 127.0.0.1 now (for a gateway or a fake server of a run)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rabbitmqctl(*args, timeout=60):
    """rabbitmqctl, quietly (isolated runs add and delete their own vhosts with it); returns
    what it printed."""
    return subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True,
                          text=True, timeout=timeout).stdout


def instance_names(name, count):
    """The processes of one service: `booking`, then `booking-2`, `booking-3`..."""
    return [name] + [f"{name}-{n}" for n in range(2, count + 1)]


def service_of(instance):
    name, _, number = instance.rpartition("-")
    return name if number.isdigit() else instance


class System:
    def __init__(self, env=None, config="config.yaml", log_dir=None, names=None,
                 services=None):
        self.env = {**os.environ, **(env or {})}
        self.env["PYTHONPATH"] = ROOT + os.pathsep + self.env.get("PYTHONPATH", "")
        self.config = os.path.join(ROOT, config)
        self.log_dir = log_dir
        self.services = services or SERVICES
        self.names = [instance for name in (names or self.services)
                      for instance in instance_names(name, self.process_count(name))]
        self.processes = {}
        self.started_at = {}
        self._logs = {}

    def process_count(self, name):
        value = self.env.get(f"{name.upper()}_PROCESSES") or "1"
        if not value.isdigit() or not 1 <= int(value) <= 10:
            raise ValueError(f"{name.upper()}_PROCESSES must be 1..10, got {value!r}")
        return int(value)

    @property
    def base_url(self):
        return "http://" + self.env.get("WEB_SERVER_ADDRESS", "127.0.0.1:8000")

    def start(self, name):
        """Start one process: a service's name, or one of its instance names (booking-2)."""
        nameko = os.path.join(os.path.dirname(sys.executable), "nameko")
        service = service_of(name)
        index = instance_names(service, 10).index(name)
        out = None
        if self.log_dir:
            out = self._logs[name] = open(os.path.join(self.log_dir, f"{name}.log"), "ab")
        # PGAPPNAME: pg_stat_activity's application_name says which process holds a connection
        self.processes[name] = subprocess.Popen(
            [nameko, "run", "--config", self.config, self.services[service]],
            cwd=ROOT, env={**self.env, "PGAPPNAME": f"studio-{name}",
                           "PROCESS_INDEX": str(index)},
            stdout=out, stderr=subprocess.STDOUT if out else None)
        self.started_at[name] = time.monotonic()

    def start_all(self):
        for name in self.names:
            self.start(name)

    def stop(self, name, sig=signal.SIGTERM, timeout=15):
        process = self.processes.pop(name, None)
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log = self._logs.pop(name, None)
        if log:
            log.close()

    def kill(self, name):
        self.stop(name, sig=signal.SIGKILL)

    def restart(self, name):
        self.stop(name)
        self.start(name)

    def stop_all(self):
        for name in reversed(list(self.processes)):
            self.stop(name)

    def died(self):
        return [name for name, p in self.processes.items() if p.poll() is not None]

    def wait_healthy(self, timeout=60):
        """Wait until /health says every service answers; raise with the logs' tails if not."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            dead = self.died()
            if dead:
                raise RuntimeError(f"{dead} exited while starting{self._log_tails(dead)}")
            try:
                last = requests.get(self.base_url + "/health", timeout=3)
                if last.status_code == 200:
                    return last.json()
            except requests.RequestException as exc:
                last = exc
            time.sleep(0.3)
        raise RuntimeError(f"not healthy after {timeout}s: {getattr(last, 'text', last)}"
                           f"{self._log_tails(self.names)}")

    def _log_tails(self, names):
        if not self.log_dir:
            return ""
        tails = []
        for name in names:
            path = os.path.join(self.log_dir, f"{name}.log")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    tails.append(f"\n--- {name} ---\n" + "".join(f.readlines()[-30:]))
        return "".join(tails)


class Restarts:
    """Brings back a process of `system` that died (make run's supervisor): at once after a
    long run, then waiting 1, 2, 4 ... up to 30 s between tries while it keeps dying within
    a minute of its start. `check()` is called in a loop; it returns what it did, in words."""

    STABLE_SECONDS = 60
    MAX_DELAY = 30

    def __init__(self, system, clock=time.monotonic):
        self.system = system
        self.clock = clock
        self.failures = {}     # name -> deaths in a row, each within STABLE_SECONDS of its start
        self.due = {}          # name -> when to start it again

    def check(self):
        said = []
        now = self.clock()
        for name in self.system.died():
            if name in self.due:
                continue
            code = self.system.processes[name].returncode
            lived = now - self.system.started_at.get(name, now)
            failures = self.failures[name] = (
                0 if lived >= self.STABLE_SECONDS else self.failures.get(name, 0) + 1)
            delay = 0 if failures == 0 else min(self.MAX_DELAY, 2 ** (failures - 1))
            self.due[name] = now + delay
            said.append(f"{name} died (exit {code}) after {lived:.0f} s; restarting "
                        + (f"in {delay} s" if delay else "now"))
        for name, when in list(self.due.items()):
            if when <= now:
                del self.due[name]
                self.system.stop(name)     # closes its log; the process is gone already
                self.system.start(name)
                said.append(f"{name} restarted")
        return said

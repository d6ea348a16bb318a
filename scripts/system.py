"""Starting and stopping the whole system: every service and the gateway as its own
`nameko run` process (so they use every core). Used by `make run`, the tests and the benchmarks."""
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


class System:
    def __init__(self, env=None, config="config.yaml", log_dir=None, names=None,
                 services=None):
        self.env = {**os.environ, **(env or {})}
        self.env["PYTHONPATH"] = ROOT + os.pathsep + self.env.get("PYTHONPATH", "")
        self.config = os.path.join(ROOT, config)
        self.log_dir = log_dir
        self.services = services or SERVICES
        self.names = list(names or self.services)
        self.processes = {}
        self._logs = {}

    @property
    def base_url(self):
        return "http://" + self.env.get("WEB_SERVER_ADDRESS", "127.0.0.1:8000")

    def start(self, name):
        nameko = os.path.join(os.path.dirname(sys.executable), "nameko")
        out = None
        if self.log_dir:
            out = self._logs[name] = open(os.path.join(self.log_dir, f"{name}.log"), "ab")
        # PGAPPNAME: pg_stat_activity's application_name says which process holds a connection
        self.processes[name] = subprocess.Popen(
            [nameko, "run", "--config", self.config, self.services[name]],
            cwd=ROOT, env={**self.env, "PGAPPNAME": f"studio-{name}"}, stdout=out,
            stderr=subprocess.STDOUT if out else None)

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

"""`make run`: start every service and the gateway, say where things are, bring back a process
that dies (with backoff), stop everything on Ctrl-C."""
import signal
import sys
import time

from scripts.system import Restarts, System


def main():
    system = System()
    stopping = []

    def request_stop(signum, frame):
        stopping.append(signum)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    system.start_all()
    try:
        health = system.wait_healthy(timeout=90)
    except RuntimeError as exc:
        print(f"The system did not come up: {exc}", file=sys.stderr)
        system.stop_all()
        return 1
    url = system.base_url
    print(f"""
Studio booking is running ({', '.join(f'{k}: {v}' for k, v in health['services'].items())}).
  API            {url}/api/...        OpenAPI: {url}/api/openapi.json
  Health         {url}/health
  Operator shell make shell   (then: n.rpc.booking.list_halls())
  Events         AMQP topic exchanges booking.events, payments.events, notifications.events
                 (routing key = event type; see docs/events.md)
A process that dies is started again. Ctrl-C stops everything.
""", flush=True)
    restarts = Restarts(system)
    while not stopping:
        for message in restarts.check():
            print(message, file=sys.stderr, flush=True)
        time.sleep(0.5)
    print("stopping...", flush=True)
    system.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A container's healthcheck: exit 0 when the service answers in time.

    python -m scripts.healthcheck booking    # its `ping` RPC
    python -m scripts.healthcheck gateway    # GET /health on WEB_SERVER_ADDRESS
    python -m scripts.healthcheck            # the service this container runs (the image's
                                             # HEALTHCHECK: read from PID 1's command line)
"""
import sys

import requests
from nameko.standalone.rpc import ClusterRpcProxy

from scripts.system import SERVICES
from services.common.config import load_config


def service_of(command):
    """The service a `nameko run ... <module:Class>` command line runs, or None."""
    classes = {target: name for name, target in SERVICES.items()}
    return next((classes[arg] for arg in command if arg in classes), None)


def own_service():
    with open("/proc/1/cmdline", "rb") as f:
        return service_of(f.read().decode(errors="replace").split("\0"))


def check(service, config):
    if service == "gateway":
        port = config["WEB_SERVER_ADDRESS"].rpartition(":")[2]
        answer = requests.get(f"http://127.0.0.1:{port}/health", timeout=5)
        return answer.status_code == 200
    with ClusterRpcProxy({"AMQP_URI": config["AMQP_URI"]}, timeout=5) as rpc:
        return getattr(rpc, service).ping() == "pong"


def main(argv):
    service = argv[0] if argv else own_service()
    if service is None:  # a one-off container (migrate, a shell): nothing to watch
        return 0
    try:
        return 0 if check(service, load_config()) else 1
    except Exception as exc:  # unreachable broker, timeout, unknown service: all "unhealthy"
        print(f"{service}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

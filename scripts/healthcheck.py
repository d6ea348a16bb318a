"""A container's healthcheck: exit 0 when the named service answers its `ping` RPC in time.

    python -m scripts.healthcheck booking
"""
import sys

from nameko.standalone.rpc import ClusterRpcProxy

from services.common.config import load_config


def main(argv):
    service = argv[0]
    config = load_config()
    try:
        with ClusterRpcProxy({"AMQP_URI": config["AMQP_URI"]}, timeout=5) as rpc:
            return 0 if getattr(rpc, service).ping() == "pong" else 1
    except Exception as exc:  # unreachable broker, timeout, unknown service: all "unhealthy"
        print(f"{service}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

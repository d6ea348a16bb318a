"""Create a dashboard operator account from the command line (`make operator`).

    python -m scripts.operator NAME ROLE        (role: owner | manager | viewer)

The password is asked for (or read from OPERATOR_PASSWORD, for scripts); it never goes on
the command line, where `ps` and the shell's history would keep it. The services must run.
"""
import getpass
import os
import sys

from nameko.standalone.rpc import ClusterRpcProxy

from contracts.operators import ROLES
from services.common.config import load_config


def main(argv):
    if len(argv) != 2 or argv[1] not in ROLES:
        sys.exit(f"usage: make operator NAME=<name> ROLE=<{'|'.join(ROLES)}>")
    name, role = argv
    password = os.environ.get("OPERATOR_PASSWORD") or getpass.getpass(f"password for {name}: ")
    with ClusterRpcProxy({"AMQP_URI": load_config()["AMQP_URI"]}, timeout=30) as rpc:
        operator = rpc.integration.create_operator(name, password, role)
    print(f"operator {operator['name']} ({operator['role']}) is ready")


if __name__ == "__main__":
    main(sys.argv[1:])

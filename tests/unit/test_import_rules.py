"""The import rules of docs/DEVELOPING.md, read from the source: services never import each
other (what crosses RPC lives in contracts/), contracts and services.common import no service
and no gateway, the gateway no service, and a domain module nothing of nameko or the database,
not even through what it imports."""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ("services", "gateway", "contracts")
SERVICES = ("booking", "payments", "integration", "notifications")
DOMAINS = ("services.booking.domain", "services.payments.domain")
FRAMEWORKS = ("nameko", "sqlalchemy", "eventlet", "kombu", "psycopg2", "requests")


def module_name(path):
    relative = os.path.relpath(path, ROOT)[:-len(".py")].split(os.sep)
    return ".".join(relative[:-1] if relative[-1] == "__init__" else relative)


def modules():
    """{module name: path} of every module of ours."""
    found = {}
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for file in files:
                if file.endswith(".py"):
                    path = os.path.join(folder, file)
                    found[module_name(path)] = path
    return found


MODULES = modules()


def imports_of(name):
    """Every module `name` imports, anywhere in it (functions too), as absolute names, with
    the packages each passes through (importing a.b.c runs a and a.b first)."""
    path = MODULES[name]
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    named = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            named.add(base)
            named.update(f"{base}.{alias.name}" for alias in node.names
                         if f"{base}.{alias.name}" in MODULES)
    with_parents = set()
    for imported in named:
        parts = imported.split(".")
        with_parents.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return with_parents


def owner(name):
    """The service a module belongs to, "common", "gateway" or "contracts"."""
    parts = name.split(".")
    if parts[0] == "services" and len(parts) > 1:
        return parts[1]
    return parts[0]


def test_every_package_is_found():
    assert {"services.payments.domain", "gateway.service", "contracts.errors.base",
            "services.common.rpc"} <= set(MODULES)


def may_import(name, imported):
    """A service's modules only by that service; the gateway's only by the gateway;
    services.common and contracts by anyone."""
    mine, theirs = owner(name), owner(imported)
    if theirs in SERVICES or theirs == "gateway":
        return mine == theirs
    return True


def test_the_rule_catches_a_service_importing_another():
    assert not may_import("services.integration.operations", "services.booking.exceptions")
    assert not may_import("gateway.mock_checkout", "services.payments.providers.mock")
    assert not may_import("contracts.errors.base", "gateway.errors")
    assert not may_import("services.common.inbox", "services.integration.store")
    assert may_import("services.payments.webhooks", "contracts.errors.payments")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_imports_no_other_service_and_only_the_gateway_the_gateway(name):
    wrong = sorted(imported for imported in imports_of(name)
                   if imported.split(".")[0] in PACKAGES and not may_import(name, imported))
    assert not wrong, f"{name} imports {wrong}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_domain_module_reaches_no_framework_or_database(domain):
    seen, todo, outside = set(), [domain], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for imported in imports_of(name):
            if imported in MODULES:
                todo.append(imported)
            else:
                outside.add(imported.split(".")[0])
    assert not outside & set(FRAMEWORKS), f"{domain} reaches {outside & set(FRAMEWORKS)}"

"""The HTTP API and the events are public contracts: the committed documents are what the
code declares, so a change to either shows up in review as a change to docs/."""
import os

from contracts import asyncapi
from gateway import openapi

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def committed(name):
    with open(os.path.join(ROOT, "docs", name), encoding="utf-8") as f:
        return f.read()


def test_the_committed_openapi_document_is_what_the_gateway_declares():
    assert committed("openapi.json") == openapi.render(), (
        "docs/openapi.json is stale: python -m gateway.openapi > docs/openapi.json")


def test_the_committed_asyncapi_document_is_what_the_contracts_declare():
    assert committed("asyncapi.json") == asyncapi.render(), (
        "docs/asyncapi.json is stale: python -m contracts.asyncapi > docs/asyncapi.json")

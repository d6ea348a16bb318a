"""Fixtures of the end-to-end tests (`operator`, `payer`, `holds` are in tests/conftest.py)."""
import uuid

import pytest


@pytest.fixture
def hall(operator):
    return operator.booking.create_hall({
        "name": f"E2E hall {uuid.uuid4()}", "capacity": 8, "buffer_minutes": 15,
        "description": "for tests",
        "tariff": {"hourly_price": 240000, "rules": [
            {"weekdays": [5, 6], "start": "09:00", "end": "22:00", "hourly_price": 360000}]}})

"""Fixtures of the end-to-end tests (`operator`, `payer`, `holds` are in tests/conftest.py)."""
import uuid
from datetime import date, timedelta

import pytest


@pytest.fixture
def hall(operator):
    return operator.booking.create_hall({
        "name": f"E2E hall {uuid.uuid4()}", "capacity": 8, "buffer_minutes": 15,
        "description": "for tests",
        "tariff": {"hourly_price": 240000, "rules": [
            {"weekdays": [5, 6], "start": "09:00", "end": "22:00", "hourly_price": 360000}]}})


@pytest.fixture
def booking(api, operator):
    """A fresh booking (its own hall, so tests never compete for a slot) with its token."""
    hall = operator.booking.create_hall({
        "name": f"Payments hall {uuid.uuid4()}", "capacity": 4, "buffer_minutes": 0,
        "tariff": {"hourly_price": 240000, "rules": []}})
    day = date.today() + timedelta(days=14)
    created = api.post("/api/bookings", json={
        "hall_id": hall["id"], "start": f"{day}T10:00", "end": f"{day}T12:00",
        "customer": {"name": "Анна", "phone": "+7 903 111-22-33"}})
    assert created.status_code == 201, created.text
    return created.json()

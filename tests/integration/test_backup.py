"""make backup / make restore on a system of the test's own: after a paid booking, back up,
drop the four databases, restore, and the booking, its payment and its events are back and
served."""
import shutil
import tempfile

import pytest

from scripts.backup import backup, restore
from scripts.system import System, free_port, rabbitmqctl
from services.common.config import db_uri, load_config
from services.common.migrate import SERVICES_WITH_DATABASE, drop_database, upgrade
from tests.amqp import rpc_client, wait_until
from tests.conftest import ADMIN_TOKEN, RUN_ID, Api
from tests.integration.integration_flow import MockProviderPayer, book, hour_slots, make_hall


@pytest.fixture
def own_world(monkeypatch):
    """Databases, a vhost and a gateway address of this test alone (it drops its databases)."""
    prefix, vhost, address = f"studio_test_{RUN_ID}_bk", f"studio_test_{RUN_ID}_bk", \
        f"127.0.0.1:{free_port()}"
    env = {"DB_PREFIX": prefix, "AMQP_URI": f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
           "WEB_SERVER_ADDRESS": address, "PUBLIC_URL": f"http://{address}"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = load_config()
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    for name in SERVICES_WITH_DATABASE:
        upgrade(name, db_uri(config, name))
    log_dir = tempfile.mkdtemp(prefix="studio-backup-test-")
    try:
        yield config, System(env=env, log_dir=log_dir), log_dir
    finally:
        for name in SERVICES_WITH_DATABASE:
            drop_database(db_uri(config, name))
        rabbitmqctl("delete_vhost", vhost)
        shutil.rmtree(log_dir, ignore_errors=True)


def test_a_backup_restores_a_paid_booking_its_payment_and_its_events(own_world):
    config, system, folder = own_world
    system.start_all()
    try:
        system.wait_healthy(timeout=90)
        api = Api(system.base_url)
        with rpc_client(config["AMQP_URI"]) as rpc:
            booking = book(api, make_hall(rpc), *next(hour_slots(1)))
            payment = MockProviderPayer(api).start(booking)
            wait_until(lambda: rpc.booking.get_booking(booking["id"])["status"] == "confirmed",
                       30)
            wait_until(lambda: "booking.confirmed" in [
                e["type"] for e in rpc.integration.booking_chain(booking["id"])["items"]], 30)
            chain = rpc.integration.booking_chain(booking["id"])["items"]
        archive = backup(config, folder)
    finally:
        system.stop_all()

    for name in SERVICES_WITH_DATABASE:
        drop_database(db_uri(config, name))
    manifest = restore(config, archive)
    assert set(manifest["databases"]) == set(SERVICES_WITH_DATABASE)

    system.start_all()
    try:
        system.wait_healthy(timeout=90)
        back = api.get(f"/api/bookings/{booking['id']}", token=booking["access_token"])
        assert back.status_code == 200 and back.json()["status"] == "confirmed"
        assert back.json()["amount_paid"] == payment["amount"]
        paid = api.get(f"/api/payments/{payment['id']}", token=booking["access_token"]).json()
        assert paid["status"] == "succeeded"
        events = api.get(f"/api/integrations/bookings/{booking['id']}/events",
                         token=ADMIN_TOKEN).json()["items"]
        # every event logged before the backup is back (more may have been logged after
        # `chain` was read and before the dump)
        assert {e["event_id"] for e in chain} <= {e["event_id"] for e in events}
        assert {"booking.created", "booking.confirmed"} <= {e["type"] for e in events}
        # the restored system goes on working: a new booking and its log
        with rpc_client(config["AMQP_URI"]) as rpc:
            later = book(api, make_hall(rpc), *next(hour_slots(1)))
            wait_until(lambda: rpc.integration.booking_chain(later["id"])["items"], 30)
    finally:
        system.stop_all()

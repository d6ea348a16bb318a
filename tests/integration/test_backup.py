"""make backup / make restore on a system of the test's own: after a paid booking, back up,
drop the four databases, restore, and the booking, its payment and its events are back and
served."""
from scripts.backup import backup, restore
from services.common.config import db_uri
from services.common.migrate import SERVICES_WITH_DATABASE, drop_database
from tests.amqp import rpc_client, wait_until
from tests.conftest import ADMIN_TOKEN, Api
from tests.integration.integration_flow import MockProviderPayer, book, hour_slots, make_hall


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

"""The booking use cases against a real PostgreSQL database, with the clock in the test's hand."""
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from contracts.errors.base import AccessDenied, InvalidRequest, InvalidTransition
from contracts.errors.booking import (
    BookingNotFound,
    BookingRuleViolation,
    HallNameTaken,
    HallNotFound,
    SlotTaken,
)
from services.booking import operations
from services.booking.domain import Rules
from tests.round_trips import CountingCursor, counting_engine, first_words

MSK = timezone(timedelta(hours=3))
# A Tuesday morning a week or two ahead of the real clock: the running system's timers (the
# `system` fixture shares this database) must not expire this test's holds under its feet.
_TUESDAY = date.today() + timedelta(days=7 + (1 - date.today().weekday()) % 7)
NOW = datetime(_TUESDAY.year, _TUESDAY.month, _TUESDAY.day, 9, 0, tzinfo=MSK)
DAY = _TUESDAY + timedelta(days=9)                        # a Thursday


@pytest.fixture(scope="module")
def engine(engines):
    return engines["booking"]


@pytest.fixture(scope="module")
def rules(config):
    return Rules.from_config(config["BOOKING"], config["STUDIO_TIMEZONE"])


@pytest.fixture
def session(engine):
    with Session(engine, expire_on_commit=False) as session:
        yield session
        session.rollback()


@pytest.fixture
def hall(session):
    view = operations.save_hall(session, {
        "name": f"Test hall {uuid.uuid4()}", "capacity": 5, "buffer_minutes": 30,
        "tariff": {"hourly_price": 200000, "rules": [
            {"weekdays": [0, 1, 2, 3, 4], "start": "18:00", "end": "22:00",
             "hourly_price": 300000}]}})
    session.commit()
    return view


def at(hour, minute=0, day=DAY):
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=MSK)


def request(hall, start, end, **customer):
    return {"hall_id": hall["id"], "start": start.isoformat(), "end": end.isoformat(),
            "customer": {"name": "Маша", "phone": "+7 916 000-00-00", **customer}}


def events(session, event_type, booking_id):
    return session.execute(text(
        "SELECT envelope FROM outbox WHERE type = :t AND envelope->'payload'->>'booking_id' = :b "
        "ORDER BY id"), {"t": event_type, "b": booking_id}).scalars().all()


def create(session, rules, hall, start, end, now=NOW):
    booking = operations.create_booking(session, rules, request(hall, start, end), now)
    session.commit()
    return booking


def test_a_new_booking_holds_its_slot_unpaid_and_records_booking_created(session, rules, hall):
    booking = create(session, rules, hall, at(17), at(19))
    # 17:00-18:00 at 2000 ₽/h, 18:00-19:00 at the evening 3000 ₽/h
    assert booking["price_total"] == 500000
    assert booking["prepayment_amount"] == 150000
    assert booking["status"] == "pending_payment" and booking["amount_paid"] == 0
    assert booking["hold_expires_at"] == (NOW + timedelta(minutes=rules.hold_minutes)).isoformat()
    [event] = events(session, "booking.created", booking["id"])
    assert event["payload"]["hall_name"] == hall["name"]
    assert event["payload"]["customer"]["name"] == "Маша"
    # the event is made before its row is inserted (one statement for both): it says what the
    # row says, table defaults included
    answer = {key: value for key, value in booking.items() if key != "access_token"}
    assert event["payload"] == operations.event_payload(answer)
    read_back = operations.get_booking(session, rules, booking["id"])
    assert operations.event_payload(read_back) == event["payload"]
    # the answer too is made of what was sent (only updated_at is read back): the stored row's
    assert answer == {key: value for key, value in read_back.items() if key != "desk_payments"}
    stored = session.execute(text("SELECT access_token_hash FROM bookings WHERE id = :i"),
                             {"i": booking["id"]}).scalar()
    assert booking["access_token"] not in stored and len(stored) == 64


@pytest.fixture
def counted_session(databases):
    engine = counting_engine(databases["booking"])
    with Session(engine, expire_on_commit=False) as session:
        yield session
        session.rollback()
    engine.dispose()


def test_a_new_hold_is_one_statement_that_commits_with_its_event(counted_session, session, rules,
                                                                 hall):
    create(counted_session, rules, hall, at(9), at(10))  # the hall is read and kept
    CountingCursor.sent.clear()
    booking = create(counted_session, rules, hall, at(12), at(13))
    # the hall's stamp (no watcher here) and the insert with its event: no BEGIN, no COMMIT
    assert first_words(CountingCursor.sent) == ["SELECT", "WITH"]
    assert events(session, "booking.created", booking["id"])  # committed: seen from elsewhere
    # a hold in the way whose time has run out: expired and replaced in one transaction
    late = NOW + timedelta(minutes=rules.hold_minutes + 1)
    CountingCursor.sent.clear()
    again = create(counted_session, rules, hall, at(12), at(13), now=late)
    sent = first_words(CountingCursor.sent)
    assert sent[:3] == ["SELECT", "WITH", "BEGIN;SELECT"]  # the try alone changed nothing
    assert sent[-2:] == ["WITH", "COMMIT"]
    assert [e["payload"]["status"] for e in events(session, "booking.expired", booking["id"])] \
        == ["expired"]
    assert events(session, "booking.created", again["id"])


def test_second_booking_of_a_taken_slot_is_refused(session, rules, hall):
    create(session, rules, hall, at(10), at(12))
    with pytest.raises(SlotTaken):
        create(session, rules, hall, at(11), at(13))
    session.rollback()
    with pytest.raises(SlotTaken, match="30-minute cleaning buffer"):
        create(session, rules, hall, at(12, 15), at(14))  # inside the buffer after 12:00
    session.rollback()
    assert create(session, rules, hall, at(12, 30), at(14))["status"] == "pending_payment"


def test_the_access_token_opens_only_its_own_booking(session, rules, hall):
    first = create(session, rules, hall, at(10), at(11))
    second = create(session, rules, hall, at(15), at(16))
    assert operations.get_booking(session, rules, first["id"], first["access_token"])["id"] \
        == first["id"]
    with pytest.raises(AccessDenied):
        operations.get_booking(session, rules, first["id"], second["access_token"])
    with pytest.raises(BookingNotFound):
        operations.get_booking(session, rules, str(uuid.uuid4()))
    with pytest.raises(BookingNotFound):
        operations.get_booking(session, rules, "not-a-uuid")
    with pytest.raises(HallNotFound):
        operations.create_booking(session, rules, {**request(hall, at(10), at(11)),
                                                   "hall_id": 999999}, NOW)


def test_confirm_is_idempotent_per_payment_and_a_prepayment_leaves_the_rest_due(
        session, rules, hall):
    booking = create(session, rules, hall, at(10), at(12))
    now = NOW + timedelta(minutes=5)
    first = operations.confirm_booking(session, rules, booking["id"], "pay-1", 120000, now)
    again = operations.confirm_booking(session, rules, booking["id"], "pay-1", 120000, now)
    session.commit()
    assert first["status"] == again["status"] == "confirmed"
    assert again["amount_paid"] == 120000 and again["remaining_due"] == 280000
    assert len(events(session, "booking.confirmed", booking["id"])) == 1
    rest = operations.confirm_booking(session, rules, booking["id"], "pay-2", 280000, now)
    session.commit()
    assert rest["remaining_due"] == 0
    assert len(events(session, "booking.payment_recorded", booking["id"])) == 1


def test_a_payment_beyond_the_price_answers_what_it_overpaid_every_time(session, rules, hall):
    booking = create(session, rules, hall, at(10), at(12))
    now = NOW + timedelta(minutes=5)
    full = operations.confirm_booking(session, rules, booking["id"], "pay-full", 400000, now)
    pre = operations.confirm_booking(session, rules, booking["id"], "pay-pre", 120000, now)
    again = operations.confirm_booking(session, rules, booking["id"], "pay-pre", 120000, now)
    session.commit()
    assert (full["overpaid"], pre["overpaid"], again["overpaid"]) == (0, 120000, 120000)
    assert again["amount_paid"] == 400000 and again["remaining_due"] == 0
    assert operations.get_booking(session, rules, booking["id"])["amount_paid"] == 400000


def test_at_the_desk_no_more_than_is_due_is_taken_and_a_repeat_is_harmless(session, rules, hall):
    booking = create(session, rules, hall, at(10), at(12))
    with pytest.raises(BookingRuleViolation) as refused:
        operations.confirm_at_desk(session, rules, booking["id"], {"amount": 400001}, NOW)
    assert refused.value.details == {"amount": ["must be at most 400000"]}
    desk = {"amount": 400000, "payment_id": "desk-receipt-17"}
    paid = operations.confirm_at_desk(session, rules, booking["id"], desk, NOW)
    again = operations.confirm_at_desk(session, rules, booking["id"], desk, NOW)
    session.commit()
    assert paid == again and paid["amount_paid"] == 400000 and "overpaid" not in paid
    with pytest.raises(BookingRuleViolation):
        operations.confirm_at_desk(session, rules, booking["id"], {}, NOW)


def test_an_unpaid_hold_expires_and_frees_its_slot(session, rules, hall):
    booking = create(session, rules, hall, at(10), at(12))
    operations.expire_holds(session, rules, NOW + timedelta(minutes=14))
    assert operations.get_booking(session, rules, booking["id"])["status"] == "pending_payment"
    later = NOW + timedelta(minutes=rules.hold_minutes, seconds=1)
    assert operations.expire_holds(session, rules, later) >= 1
    session.commit()
    assert operations.get_booking(session, rules, booking["id"])["status"] == "expired"
    assert len(events(session, "booking.expired", booking["id"])) == 1
    assert create(session, rules, hall, at(10), at(12), now=later)["status"] == "pending_payment"


def test_confirming_an_expired_hold_takes_the_slot_back_while_it_is_free(session, rules, hall):
    booking = create(session, rules, hall, at(10), at(12))
    later = NOW + timedelta(hours=1)
    operations.expire_holds(session, rules, later)
    session.commit()
    confirmed = operations.confirm_booking(session, rules, booking["id"], "late-pay", 150000,
                                           later)
    session.commit()
    assert confirmed["status"] == "confirmed"


def test_confirming_an_expired_hold_whose_slot_was_taken_raises_slot_taken(
        session, rules, hall):
    booking = create(session, rules, hall, at(10), at(12))
    later = NOW + timedelta(hours=1)
    operations.expire_holds(session, rules, later)
    session.commit()
    create(session, rules, hall, at(11), at(13), now=later)
    with pytest.raises(SlotTaken):
        operations.confirm_booking(session, rules, booking["id"], "late-pay", 150000, later)
    session.rollback()
    assert operations.get_booking(session, rules, booking["id"])["status"] == "expired"


@pytest.mark.parametrize("before, by, refund", [
    (timedelta(hours=24), "customer", 500000),                        # exactly 24 h: all back
    (timedelta(hours=23, minutes=59), "customer", 500000 - 150000),   # keeps the prepayment
    (timedelta(hours=1), "operator", 500000),                          # operator: all back
])
def test_cancellation_refunds_follow_the_policy_at_its_boundaries(
        session, rules, hall, before, by, refund):
    booking = create(session, rules, hall, at(17), at(19))
    operations.confirm_booking(session, rules, booking["id"], "p", 500000, NOW)
    cancelled = operations.cancel_booking(session, rules, booking["id"], by, at(17) - before,
                                          access_token=booking["access_token"])
    session.commit()
    assert cancelled["status"] == "cancelled" and cancelled["refund_due"] == refund
    [event] = events(session, "booking.cancelled", booking["id"])
    assert event["payload"]["refund_due"] == refund


def test_a_cancelled_booking_cannot_be_cancelled_or_confirmed_again(session, rules, hall):
    booking = create(session, rules, hall, at(10), at(12))
    operations.cancel_booking(session, rules, booking["id"], "operator", NOW)
    session.commit()
    with pytest.raises(InvalidTransition):
        operations.cancel_booking(session, rules, booking["id"], "operator", NOW)
    with pytest.raises(InvalidTransition):
        operations.confirm_booking(session, rules, booking["id"], "p", 100, NOW)


def test_listing_filters_by_hall_status_and_dates_and_pages_with_a_cursor(
        session, rules, hall):
    made = [create(session, rules, hall, at(9 + 2 * i), at(10 + 2 * i))["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        page = operations.list_bookings(session, rules, {
            "hall_id": hall["id"], "status": "pending_payment", "date_from": DAY.isoformat(),
            "date_to": DAY.isoformat(), "limit": 2, **({"cursor": cursor} if cursor else {})})
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == made
    assert operations.list_bookings(session, rules, {
        "hall_id": hall["id"], "date_from": (DAY + timedelta(days=1)).isoformat()})["items"] == []
    with pytest.raises(InvalidRequest):
        operations.list_bookings(session, rules, {"cursor": "garbage"})


def test_availability_leaves_out_booked_slots_and_their_buffer(session, rules, hall):
    create(session, rules, hall, at(12), at(13))
    day = operations.availability(session, rules, hall["id"], DAY.isoformat(), DAY.isoformat(),
                                  NOW)["days"][0]
    starts = {slot["start"][11:16] for slot in day["slots"]}
    assert "11:15" in starts and "13:30" in starts
    assert not starts & {"11:30", "11:45", "12:00", "12:45", "13:00", "13:15"}
    assert day["slots"][0]["start"] == at(9).isoformat()
    for slot in day["slots"]:  # every slot's own start and end, even where slots run on
        start, end = datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"])
        assert end - start == timedelta(minutes=15) and start.utcoffset() is not None


def test_a_hall_takes_the_defaults_it_is_not_given_and_refuses_a_bad_one(session):
    created = operations.save_hall(session, {
        "name": f"Bare hall {uuid.uuid4()}", "capacity": 3,
        "tariff": {"hourly_price": 150000, "rules": []}})
    session.commit()
    assert (created["buffer_minutes"], created["active"], created["description"]) == (0, True, "")
    for bad in ({"capacity": 0}, {"buffer_minutes": -15}, {"tariff": {"hourly_price": -1}}):
        with pytest.raises(InvalidRequest):
            operations.save_hall(session, {"name": f"Bad hall {uuid.uuid4()}", "capacity": 3,
                                           "tariff": {"hourly_price": 150000, "rules": []},
                                           **bad})
        session.rollback()


def test_every_change_raises_the_revision_that_calendars_read_as_sequence(session, rules, hall):
    booking = create(session, rules, hall, at(10), at(12))
    assert booking["revision"] == 0 and booking["updated_at"]
    confirmed = operations.confirm_booking(session, rules, booking["id"], "pay-1", 100, NOW)
    session.commit()
    cancelled = operations.cancel_booking(session, rules, booking["id"], "operator", NOW)
    session.commit()
    assert (confirmed["revision"], cancelled["revision"]) == (1, 2)
    assert events(session, "booking.cancelled", booking["id"])[0]["payload"]["revision"] == 2
    assert operations.get_booking(session, rules, booking["id"])["revision"] == 2


def test_a_hall_cannot_take_a_name_another_hall_has(session, hall):
    with pytest.raises(HallNameTaken, match="already named"):
        operations.save_hall(session, {"name": hall["name"], "capacity": 2,
                                       "tariff": {"hourly_price": 100000}})
    session.rollback()
    other = operations.save_hall(session, {"name": f"Other {uuid.uuid4()}", "capacity": 2,
                                           "tariff": {"hourly_price": 100000}})
    session.commit()
    with pytest.raises(HallNameTaken):
        operations.save_hall(session, {"name": hall["name"], "opening_hours": None}, other["id"])
    session.rollback()
    # its own name again is no change of name
    assert operations.save_hall(session, {"name": hall["name"]}, hall["id"])["name"] == hall["name"]

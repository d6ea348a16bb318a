"""Holds against a real PostgreSQL database: a hold that has run out frees its slot at once
(lazy expiry, under concurrency too), the timers drain whatever is due, a creating call
repeated with its request id answers the first time's answer, and one client holds only so
many unpaid slots."""
import dataclasses
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from bench.expiry import insert_due_holds
from contracts.errors.booking import IdempotencyKeyReused, SlotTaken, TooManyHolds
from services.booking import closures, operations, store
from services.common.migrate import scratch_database
from tests.service import test_booking_operations as booking_tests
from tests.service.test_booking_operations import DAY, NOW, at, events, request

# the booking tests' fixtures: their database, rules, a session and a hall
engine, rules, session, hall = (booking_tests.engine, booking_tests.rules,
                                booking_tests.session, booking_tests.hall)

BEFORE = NOW - timedelta(minutes=30)   # a hold placed then has run out by NOW


@contextmanager
def unit_of_work(engine):
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


def create(session, rules, data, now=NOW, **kwargs):
    booking = operations.create_booking(session, rules, data, now, **kwargs)
    session.commit()
    return booking


def at_once(engine, count, attempt, refusals=None):
    """Run attempt(session, n) for n in range(count) in as many threads, released together,
    each in a session of its own; an error named in `refusals` gives its outcome instead."""
    refusals = refusals or {}
    start = threading.Barrier(count)

    def run(n):
        with Session(engine) as own:
            start.wait()
            try:
                return attempt(own, n)
            except tuple(refusals) as exc:
                own.rollback()
                return refusals[type(exc)]

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def status_of(session, booking_id):
    return session.execute(text("SELECT status FROM bookings WHERE id = :id"),
                           {"id": booking_id}).scalar()


def slot_starts(session, rules, hall, now=NOW):
    days = operations.availability(session, rules, hall["id"], DAY, DAY, now)["days"]
    return {slot["start"] for day in days for slot in day["slots"]}


# --- a hold that has run out --------------------------------------------------------------------

def test_a_run_out_hold_shows_free_and_a_new_booking_expires_it_in_its_transaction(
        session, rules, hall):
    old = create(session, rules, request(hall, at(10), at(12)), now=BEFORE)
    assert at(10, 30).isoformat() not in slot_starts(session, rules, hall, BEFORE)
    # the timer has not run: the hold is still pending, yet the calendar shows it free
    assert status_of(session, old["id"]) == "pending_payment"
    assert at(10, 30).isoformat() in slot_starts(session, rules, hall)

    new = create(session, rules, request(hall, at(11), at(13)))

    assert new["status"] == "pending_payment"
    assert status_of(session, old["id"]) == "expired"
    [expired] = events(session, "booking.expired", old["id"])
    assert expired["payload"]["status"] == "expired"
    assert operations.expire_holds(session, rules, NOW) >= 0
    session.commit()
    assert len(events(session, "booking.expired", old["id"])) == 1


def test_a_live_hold_still_takes_its_slot(session, rules, hall):
    create(session, rules, request(hall, at(10), at(12)))
    with pytest.raises(SlotTaken):
        create(session, rules, request(hall, at(11), at(13)), now=NOW + timedelta(minutes=5))
    session.rollback()


def test_twenty_concurrent_requests_for_a_run_out_holds_slot_give_one_booking(
        engine, session, rules, hall):
    old = create(session, rules, request(hall, at(15), at(17)), now=BEFORE)
    def book(own, n):
        operations.create_booking(own, rules, request(hall, at(15), at(17),
                                                      phone=f"+7 900 000-00-{n:02d}"), NOW)
        own.commit()
        return "booked"

    outcomes = at_once(engine, 20, book, {SlotTaken: "taken"})

    assert sorted(outcomes) == ["booked"] + ["taken"] * 19
    assert status_of(session, old["id"]) == "expired"
    assert len(events(session, "booking.expired", old["id"])) == 1


def test_a_late_payment_for_a_hold_expired_by_a_new_booking_is_refused(session, rules, hall):
    old = create(session, rules, request(hall, at(18), at(20)), now=BEFORE)
    create(session, rules, request(hall, at(19), at(21)))
    with pytest.raises(SlotTaken):
        operations.confirm_booking(session, rules, old["id"], "pay-late", 100, NOW)
    session.rollback()
    assert status_of(session, old["id"]) == "expired"


def test_a_late_payment_takes_back_a_slot_nobody_took(session, rules, hall):
    old = create(session, rules, request(hall, at(9), at(10)), now=BEFORE)
    operations.expire_holds(session, rules, NOW)
    session.commit()
    confirmed = operations.confirm_booking(session, rules, old["id"], "pay-late",
                                           old["prepayment_amount"], NOW)
    session.commit()
    assert confirmed["status"] == "confirmed"
    assert len(events(session, "booking.confirmed", old["id"])) == 1


# --- the timers drain everything due --------------------------------------------------------

@pytest.fixture(scope="module")
def crowded(databases):
    """A booking database of its own: thousands of due rows and their events must not land
    on the running system's outbox."""
    with scratch_database("booking", databases["booking"] + "_drain") as engine:
        yield engine


@pytest.fixture
def crowded_hall(crowded):
    with unit_of_work(crowded) as session:
        return operations.save_hall(session, {"name": f"Busy hall {uuid.uuid4()}",
                                              "capacity": 4,
                                              "tariff": {"hourly_price": 100000, "rules": []}})


def test_the_expiry_timer_drains_every_due_hold_in_batches_across_two_processes(
        crowded, crowded_hall, rules):
    ids = insert_due_holds(crowded, crowded_hall["id"], 1300, NOW)

    def drain():
        return operations.drain(lambda: unit_of_work(crowded), operations.expire_holds,
                                rules, NOW, 200)

    with ThreadPoolExecutor(2) as pool:
        expired = sum(pool.map(lambda _: drain(), range(2)))

    assert expired == len(ids)
    with crowded.connect() as conn:
        counts = conn.execute(text(
            "SELECT b.status, count(o.id) FROM bookings b LEFT JOIN outbox o ON o.type = "
            "'booking.expired' AND o.envelope->'payload'->>'booking_id' = b.id::text "
            "WHERE b.id = ANY(CAST(:ids AS uuid[])) GROUP BY b.id, b.status"),
            {"ids": ids}).all()
    assert len(counts) == len(ids)
    assert set(counts) == {("expired", 1)}


def test_complete_finished_drains_every_ended_booking(crowded, crowded_hall, rules):
    ids = insert_due_holds(crowded, crowded_hall["id"], 700, NOW, status="confirmed")
    done = operations.drain(lambda: unit_of_work(crowded), operations.complete_finished,
                            rules, NOW + timedelta(days=400), 300)
    assert done == len(ids)
    with crowded.connect() as conn:
        assert conn.execute(text(
            "SELECT count(*) FROM outbox WHERE type = 'booking.completed' "
            "AND envelope->'payload'->>'booking_id' = ANY(:ids)"), {"ids": ids}).scalar() \
            == len(ids)


# --- request ids ----------------------------------------------------------------------------------

def test_a_repeated_booking_request_answers_the_first_booking_with_its_token(
        session, rules, hall):
    key = f"retry-{uuid.uuid4()}"
    data = request(hall, at(12), at(14))
    first = create(session, rules, data, request_id=key)
    again = create(session, rules, data, now=NOW + timedelta(minutes=3), request_id=key)

    assert again == first
    assert len(events(session, "booking.created", first["id"])) == 1
    assert operations.get_booking(session, rules, first["id"],
                                  again["access_token"])["id"] == first["id"]
    assert session.execute(text("SELECT count(*) FROM bookings WHERE hall_id = :h"),
                           {"h": hall["id"]}).scalar() == 1
    # neither the client's key nor the token is kept in clear
    stored = session.execute(text("SELECT key, token_salt, result::text FROM idempotency_keys "
                                  "WHERE result->>'booking_id' = :id"),
                             {"id": first["id"]}).one()
    assert key not in stored and first["access_token"] not in stored


def test_the_same_request_id_with_another_booking_is_refused(session, rules, hall):
    key = f"retry-{uuid.uuid4()}"
    create(session, rules, request(hall, at(12), at(14)), request_id=key)
    with pytest.raises(IdempotencyKeyReused):
        create(session, rules, request(hall, at(15), at(16)), request_id=key)
    session.rollback()


def test_two_simultaneous_requests_with_one_id_make_one_booking(engine, rules, hall):
    key = f"retry-{uuid.uuid4()}"
    data = request(hall, at(12), at(14))
    def book(own, n):
        answer = operations.create_booking(own, rules, data, NOW, request_id=key)
        own.commit()
        return answer

    first, second = at_once(engine, 2, book)
    assert first == second


def test_a_request_id_is_forgotten_after_its_lifetime(session, rules, hall):
    key = f"retry-{uuid.uuid4()}"
    data = request(hall, at(12), at(14))
    first = create(session, rules, data, request_id=key)
    operations.cancel_booking(session, rules, first["id"], "operator", NOW)
    later = NOW + timedelta(hours=rules.idempotency_key_hours, minutes=1)
    operations.forget_request_ids(session, rules, later)
    session.commit()
    again = create(session, rules, data, now=NOW + timedelta(minutes=5), request_id=key)
    assert again["id"] != first["id"] and again["access_token"] != first["access_token"]


def test_a_repeated_create_hall_answers_the_first_hall(session, rules):
    key = f"hall-{uuid.uuid4()}"
    hall_data = {"name": f"Retried hall {uuid.uuid4()}", "capacity": 4,
                 "tariff": {"hourly_price": 100000, "rules": []}}
    first = operations.create_hall(session, rules, hall_data, NOW, key)
    session.commit()
    assert operations.create_hall(session, rules, hall_data, NOW, key) == first
    with pytest.raises(IdempotencyKeyReused):
        operations.create_hall(session, rules, {**hall_data, "capacity": 5}, NOW, key)
    session.rollback()


def test_a_repeated_desk_payment_is_recorded_once(session, rules, hall):
    booking = create(session, rules, request(hall, at(12), at(14)))
    key = f"desk-{uuid.uuid4()}"
    first = operations.confirm_at_desk(session, rules, booking["id"], {"amount": 100000},
                                       NOW, key)
    session.commit()
    again = operations.confirm_at_desk(session, rules, booking["id"], {"amount": 100000},
                                       NOW, key)
    session.commit()
    assert again == first and first["amount_paid"] == 100000
    assert len(events(session, "booking.confirmed", booking["id"])) == 1


# --- unpaid holds per client -------------------------------------------------------------------

@pytest.fixture
def strict(rules):
    return dataclasses.replace(rules, max_holds_per_phone=3, max_holds_per_email=3,
                               max_holds_per_ip=3)


def hold(session, rules, hall, n, phone="+7 901 555-44-33", email=None, ip=None, now=NOW):
    return create(session, rules, request(hall, at(9 + 2 * n), at(10 + 2 * n),
                                          phone=phone, email=email), now=now, client_ip=ip)


def test_the_fourth_unpaid_hold_from_one_phone_is_refused(session, strict, hall):
    phone = f"+79{uuid.uuid4().int % 10**9:09d}"
    for n in range(3):
        hold(session, strict, hall, n, phone=phone)
    with pytest.raises(TooManyHolds) as refused:
        # the same number, written another way
        hold(session, strict, hall, 3, phone=" ".join(phone[i:i + 3] for i in range(0, 12, 3)))
    session.rollback()
    assert refused.value.code == "too_many_holds"
    assert refused.value.details == {"limit": 3, "by": ["phone"]}


def test_holds_are_counted_per_email_and_per_client_address(session, strict, hall):
    email, ip = f"{uuid.uuid4().hex}@Example.com", f"10.{uuid.uuid4().int % 250}.7.9"
    for n in range(3):
        hold(session, strict, hall, n, phone=f"+7 902 000-00-{n:02d}", email=email.lower(),
             ip=ip)
    with pytest.raises(TooManyHolds) as refused:
        hold(session, strict, hall, 3, phone="+7 902 000-00-99", email=email.upper(), ip=ip)
    session.rollback()
    assert refused.value.details["by"] == ["email", "ip"]


def test_paid_and_run_out_holds_do_not_count(session, strict, hall):
    phone = f"+7 9{uuid.uuid4().int % 10**9:09d}"
    ran_out = hold(session, strict, hall, 0, phone=phone, now=BEFORE)
    paid = hold(session, strict, hall, 1, phone=phone)
    operations.confirm_at_desk(session, strict, paid["id"], {}, NOW)
    session.commit()
    for n in range(2, 5):
        hold(session, strict, hall, n, phone=phone)
    assert status_of(session, ran_out["id"]) == "pending_payment"


def test_simultaneous_holds_of_one_phone_stop_at_the_limit(engine, strict, hall):
    phone = f"+7 9{uuid.uuid4().int % 10**9:09d}"
    outcomes = at_once(engine, 6, lambda own, n: hold(own, strict, hall, n, phone=phone)
                       and "held", {TooManyHolds: "refused"})
    assert sorted(outcomes) == ["held"] * 3 + ["refused"] * 3


# --- parsed halls ---------------------------------------------------------------------------------

def test_a_hall_changed_by_another_process_is_parsed_again(session, rules, hall):
    elsewhere = store.ParsedHalls()          # another booking process's copy
    assert elsewhere.get(session, hall["id"])[0].tariff.hourly_price == 200000
    assert elsewhere.get(session, hall["id"])[0] is elsewhere.get(session, hall["id"])[0]
    operations.save_hall(session, {"tariff": {"hourly_price": 250000, "rules": []}},
                         hall["id"])
    session.commit()
    assert elsewhere.get(session, hall["id"])[0].tariff.hourly_price == 250000
    assert operations.price_quote(session, rules, hall["id"], at(10).isoformat(),
                                  at(11).isoformat())["price_total"] == 250000


def test_a_special_day_set_or_removed_elsewhere_is_read_again(session, rules, hall):
    elsewhere = store.ParsedHalls()
    day = DAY + timedelta(days=1)
    assert day not in elsewhere.get(session, hall["id"])[1]
    closures.set_special_day(session, rules, day, {"hours": ["12:00", "16:00"]}, NOW)
    session.commit()   # every hall's (hall_id null): every hall's copy is stale
    assert elsewhere.get(session, hall["id"])[1][day] == (12 * 60, 16 * 60)
    closures.delete_special_day(session, day)
    session.commit()
    assert day not in elsewhere.get(session, hall["id"])[1]

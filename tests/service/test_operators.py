"""Operators' accounts, sessions and audit trail against a real PostgreSQL database."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from contracts.errors.base import InvalidRequest
from contracts.errors.integration import OperatorExists, SessionEnded, SignInRefused, TooManySignInAttempts
from contracts.operators import AUDIT_PENDING
from services.integration import operators

SETTINGS = operators.Settings(session_idle=timedelta(minutes=30),
                              session_max=timedelta(hours=12), max_failures=3,
                              max_failures_per_address=5,
                              failure_window=timedelta(minutes=15))
T0 = datetime(2030, 5, 1, 12, 0, tzinfo=timezone.utc)
PASSWORD = "correct horse battery"
ADMIN_TOKEN = "machine-token-for-tests"


@pytest.fixture(scope="module")
def engine(engines):
    return engines["integration"]


@pytest.fixture
def session(engine):
    with Session(engine) as session:
        yield session
        session.rollback()


def a_name():
    return f"op-{uuid.uuid4().hex[:10]}"


def make(session, role="manager", name=None):
    return operators.create_operator(session, {"name": name or a_name(), "password": PASSWORD,
                                               "role": role})


def sign_in(session, name, password=PASSWORD, ip="10.0.0.1", now=T0):
    return operators.sign_in(session, SETTINGS, {"name": name, "password": password},
                             ADMIN_TOKEN, ip, "req-1", now)


def test_a_password_is_kept_only_as_an_argon2id_hash(session):
    operator = make(session)
    stored = session.execute(text("SELECT password_hash FROM operators WHERE name = :n"),
                             {"n": operator["name"]}).scalar()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_creating_the_same_operator_twice_answers_the_first_and_another_password_conflicts(
        session):
    first = make(session)
    assert make(session, name=first["name"]) == first
    with pytest.raises(OperatorExists):
        operators.create_operator(session, {"name": first["name"], "password": "another one!",
                                            "role": "manager"})


def test_an_operator_needs_a_known_role_and_a_long_password(session):
    with pytest.raises(InvalidRequest) as refused:
        operators.create_operator(session, {"name": a_name(), "password": "short",
                                            "role": "boss"})
    assert set(refused.value.details) == {"password", "role"}


def test_sign_in_opens_a_session_that_names_the_operator_and_role(session):
    operator = make(session, role="viewer")
    opened, refusal = sign_in(session, operator["name"])
    assert refusal is None
    found = operators.session_operator(session, SETTINGS, opened["session_token"],
                                       T0 + timedelta(minutes=5))
    assert (found["name"], found["role"]) == (operator["name"], "viewer")


def test_a_wrong_password_and_an_unknown_name_are_refused_alike(session):
    operator = make(session)
    _, wrong = sign_in(session, operator["name"], password="not the password")
    _, unknown = sign_in(session, a_name(), ip="10.0.0.2")
    assert type(wrong) is type(unknown) is SignInRefused
    assert wrong.message == unknown.message


def test_the_machine_token_signs_in_as_the_owner_and_a_wrong_one_does_not(session):
    opened, _ = operators.sign_in(session, SETTINGS, {"token": ADMIN_TOKEN}, ADMIN_TOKEN,
                                  "10.0.0.3", None, T0)
    assert opened["operator"]["role"] == "owner"
    assert operators.session_operator(session, SETTINGS, opened["session_token"],
                                      T0)["name"] == "token"
    _, refusal = operators.sign_in(session, SETTINGS, {"token": "guess"}, ADMIN_TOKEN,
                                   "10.0.0.3", None, T0)
    assert isinstance(refusal, SignInRefused)


def test_failed_sign_ins_lock_the_name_until_the_window_passes(session):
    operator = make(session)
    ip = f"10.1.{uuid.uuid4().int % 250}.1"
    for _ in range(SETTINGS.max_failures):
        _, refusal = sign_in(session, operator["name"], password="wrong password", ip=ip)
        assert isinstance(refusal, SignInRefused)
    _, refusal = sign_in(session, operator["name"], ip="10.9.9.9",
                         now=T0 + timedelta(minutes=1))
    assert isinstance(refusal, TooManySignInAttempts)
    assert 0 < refusal.details["retry_after"] <= 15 * 60
    opened, refusal = sign_in(session, operator["name"], ip="10.9.9.8",
                              now=T0 + timedelta(minutes=20))
    assert refusal is None and opened["session_token"]


def test_failed_sign_ins_from_one_address_lock_it_for_every_name(session):
    ip = f"10.2.{uuid.uuid4().int % 250}.1"
    for _ in range(SETTINGS.max_failures_per_address):
        sign_in(session, a_name(), password="wrong password", ip=ip)
    operator = make(session)
    _, refusal = sign_in(session, operator["name"], ip=ip, now=T0 + timedelta(minutes=1))
    assert isinstance(refusal, TooManySignInAttempts)


def test_a_session_ends_when_idle_when_signed_out_or_when_the_operator_is_deactivated(session):
    operator = make(session)
    idle, _ = sign_in(session, operator["name"])
    with pytest.raises(SessionEnded):
        operators.session_operator(session, SETTINGS, idle["session_token"],
                                   T0 + SETTINGS.session_idle + timedelta(seconds=1))
    out, _ = sign_in(session, operator["name"])
    assert operators.sign_out(session, out["session_token"], "10.0.0.1", "r", T0)["signed_out"]
    with pytest.raises(SessionEnded):
        operators.session_operator(session, SETTINGS, out["session_token"], T0)
    live, _ = sign_in(session, operator["name"])
    operators.update_operator(session, operator["name"], {"active": False}, T0)
    with pytest.raises(SessionEnded):
        operators.session_operator(session, SETTINGS, live["session_token"], T0)
    _, refusal = sign_in(session, operator["name"], ip="10.0.0.9")
    assert isinstance(refusal, SignInRefused)


def test_the_audit_trail_keeps_who_what_where_and_never_a_password(session):
    booking_id = str(uuid.uuid4())
    operators.record_action(session, {
        "operator": "anna", "role": "manager", "action": "cancel_booking",
        "target": f"booking_id={booking_id}", "booking_id": booking_id,
        "details": {"reason": "flood", "password": "leak", "new_token": "leak"},
        "outcome": "ok", "ip": "10.0.0.5", "request_id": "req-42"})
    page = operators.list_audit(session, {"booking_id": booking_id})
    [entry] = page["items"]
    assert entry["details"] == {"reason": "flood"}
    assert (entry["operator"], entry["ip"], entry["request_id"]) == ("anna", "10.0.0.5",
                                                                     "req-42")


def test_the_audit_trail_pages_newest_first(session):
    name = a_name()
    for n in range(3):
        operators.record_action(session, {"operator": name, "action": f"act{n}",
                                          "outcome": "ok"})
    first = operators.list_audit(session, {"operator": name, "limit": 2})
    rest = operators.list_audit(session, {"operator": name, "limit": 2,
                                          "cursor": first["next_cursor"]})
    assert [e["action"] for e in first["items"] + rest["items"]] == ["act2", "act1", "act0"]
    assert rest["next_cursor"] is None


def test_an_action_is_pending_until_its_outcome_which_is_written_once(session):
    name = a_name()
    entry = operators.record_action(session, {"operator": name, "action": "create_booking",
                                              "outcome": AUDIT_PENDING})
    assert entry["outcome"] == "pending" and entry["booking_id"] is None
    operators.record_outcome(session, entry["id"], "ok", "b-made")
    operators.record_outcome(session, entry["id"], "slot_taken", "b-other")  # a late repeat
    [kept] = operators.list_audit(session, {"operator": name})["items"]
    assert (kept["outcome"], kept["booking_id"]) == ("ok", "b-made")

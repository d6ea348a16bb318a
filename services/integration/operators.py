"""Operators of the dashboard: their accounts, their sign-in sessions and the audit trail of
what they did. Each function runs in the caller's session (one transaction).

Why here, in `integration`: it already keeps the studio's record of what happened (the event
log every booking card shows); the audit trail is the operators' half of that record. The
gateway asks for a session's operator on each dashboard request, and records each action
after it is done.
"""
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, text, update

from contracts.errors.base import InvalidRequest
from contracts.errors.integration import (
    OperatorExists,
    OperatorNotFound,
    SessionEnded,
    SignInRefused,
    TooManySignInAttempts,
)
from contracts.operators import (
    AUDIT_PENDING,
    TOKEN_OPERATOR,
    AuditQuerySchema,
    CreateOperatorSchema,
    UpdateOperatorSchema,
)
from services.common.input import load
from services.integration.models import AuditRow, OperatorRow, OperatorSessionRow

HASHER = PasswordHasher()   # argon2id, RFC 9106 low-memory profile
# Verified against when the name is unknown, so both answers take as long.
_NOBODY_HASH = HASHER.hash(secrets.token_urlsafe(16))
SECRET_FIELDS = ("password", "token")
SEEN_EVERY = timedelta(minutes=1)   # last_seen_at is moved at most this often


@dataclass(frozen=True)
class Settings:
    session_idle: timedelta
    session_max: timedelta
    max_failures: int                # per name
    max_failures_per_address: int    # higher: a studio's operators share one address
    failure_window: timedelta

    @classmethod
    def from_config(cls, section):
        return cls(session_idle=timedelta(minutes=int(section["session_idle_minutes"])),
                   session_max=timedelta(hours=int(section["session_max_hours"])),
                   max_failures=int(section["sign_in_max_failures"]),
                   max_failures_per_address=int(section["sign_in_max_failures_per_address"]),
                   failure_window=timedelta(minutes=int(section["sign_in_window_minutes"])))


def token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def operator_view(row):
    return {"name": row.name, "role": row.role, "active": row.active,
            "created_at": row.created_at.isoformat() if row.created_at else None}


def _token_operator_view():
    return {"name": TOKEN_OPERATOR, "role": "owner", "active": True, "created_at": None}


# --- accounts ---------------------------------------------------------------------------------

def _operator_row(session, name, for_update=False):
    query = select(OperatorRow).where(OperatorRow.name == name)
    row = session.scalars(query.with_for_update() if for_update else query).first()
    if row is None:
        raise OperatorNotFound(f"There is no operator {name!r}.", {"name": name})
    return row


def list_operators(session):
    return [operator_view(row) for row in
            session.scalars(select(OperatorRow).order_by(OperatorRow.name))]


def create_operator(session, data):
    """A new operator. Safe to repeat: the same name, role and password answer the first
    account; another role or password for a taken name is OperatorExists."""
    data = load(CreateOperatorSchema, data)
    if data["name"] == TOKEN_OPERATOR:
        raise InvalidRequest("This name is the machine token's.",
                             {"name": ["reserved for the machine token"]})
    existing = session.scalars(select(OperatorRow).where(OperatorRow.name == data["name"])
                               ).first()
    if existing is not None:
        if existing.role == data["role"] and _password_matches(existing.password_hash,
                                                               data["password"]):
            return operator_view(existing)
        raise OperatorExists(f"There is an operator {data['name']!r} already.",
                             {"name": data["name"]})
    row = OperatorRow(name=data["name"], role=data["role"],
                      password_hash=HASHER.hash(data["password"]), active=True)
    session.add(row)
    session.flush()
    session.refresh(row)
    return operator_view(row)


def update_operator(session, name, changes, now):
    """Change an operator's role, password or active flag. A new password or deactivation
    ends the operator's open sessions."""
    changes = load(UpdateOperatorSchema, changes)
    row = _operator_row(session, name, for_update=True)
    if "role" in changes:
        row.role = changes["role"]
    if "active" in changes:
        row.active = changes["active"]
    if "password" in changes:
        row.password_hash = HASHER.hash(changes["password"])
    row.updated_at = now
    if "password" in changes or changes.get("active") is False:
        session.execute(update(OperatorSessionRow)
                        .where(OperatorSessionRow.operator_id == row.id,
                               OperatorSessionRow.ended_at.is_(None))
                        .values(ended_at=now))
    session.flush()
    return operator_view(row)


def _password_matches(password_hash, password):
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# --- sessions ---------------------------------------------------------------------------------

def sign_in(session, settings, credentials, admin_token, ip, request_id, now):
    """Open a session for a name + password, or for the machine token. Returns
    (session view with the new `session_token`, None), or (None, the error to raise) -- the
    caller raises it after commit, so the failure stays counted."""
    name = credentials.get("name")
    by_token = "token" in credentials
    who = TOKEN_OPERATOR if by_token else (name or "")
    retry_after = _locked_for(session, settings, who, ip, now)
    audit = dict(operator=who, action="sign_in", ip=ip, request_id=request_id)
    if retry_after:
        record_action(session, dict(audit, outcome=TooManySignInAttempts.code), now)
        return None, TooManySignInAttempts(
            "Too many failed sign-ins: wait and try again.", {"retry_after": retry_after})
    row = None
    if by_token:
        accepted = bool(admin_token) and hmac.compare_digest(
            str(credentials["token"]).encode(), admin_token.encode())
    else:
        row = session.scalars(select(OperatorRow).where(OperatorRow.name == who)).first()
        accepted = _password_matches(row.password_hash if row else _NOBODY_HASH,
                                     credentials.get("password") or "")
        accepted = accepted and row is not None and row.active
    if not accepted:
        record_action(session, dict(audit, outcome=SignInRefused.code), now)
        return None, SignInRefused("The name and password (or the token) are not right.")
    if row is not None and HASHER.check_needs_rehash(row.password_hash):
        row.password_hash = HASHER.hash(credentials["password"])
    session_token = secrets.token_urlsafe(32)
    session.add(OperatorSessionRow(
        token_hash=token_hash(session_token), operator_id=row.id if row else None,
        created_at=now, last_seen_at=now, ends_at=now + settings.session_max, ip=ip))
    view = operator_view(row) if row else _token_operator_view()
    record_action(session, dict(audit, role=view["role"], outcome="ok"), now)
    return {"session_token": session_token, "operator": view,
            "expires_at": (now + settings.session_idle).isoformat()}, None


def _locked_for(session, settings, who, ip, now):
    """Seconds until sign-in opens again for this name or address (0: open now)."""
    window_start = now - settings.failure_window
    by_name, by_address = (
        session.execute(select(func.count(), func.min(AuditRow.at)).where(
            AuditRow.action == "sign_in", AuditRow.outcome != "ok",
            AuditRow.at > window_start, column == value)).one()
        for column, value in ((AuditRow.operator, who), (AuditRow.ip, ip)))
    locked = [first for count, first, limit in (
        (*by_name, settings.max_failures), (*by_address, settings.max_failures_per_address))
        if count >= limit]
    if not locked:
        return 0
    return max(1, int((min(locked) + settings.failure_window - now).total_seconds()))


def session_operator(session, settings, session_token, now):
    """The operator of a live session ({name, role, active, created_at, expires_at});
    SessionEnded when it is unknown, signed out, idle too long, past its end, or its
    operator deactivated. Using it keeps it alive."""
    found = session.execute(
        select(OperatorSessionRow, OperatorRow)
        .outerjoin(OperatorRow, OperatorRow.id == OperatorSessionRow.operator_id)
        .where(OperatorSessionRow.token_hash == token_hash(str(session_token)))).first()
    if found is None:
        raise SessionEnded("Sign in again: this session is not known.")
    row, operator = found
    if (row.ended_at is not None or row.ends_at <= now
            or row.last_seen_at + settings.session_idle <= now
            or (operator is not None and not operator.active)):
        raise SessionEnded("Sign in again: this session has ended.")
    if now - row.last_seen_at >= SEEN_EVERY:
        row.last_seen_at = now
    view = operator_view(operator) if operator is not None else _token_operator_view()
    expires = min(row.ends_at, max(row.last_seen_at, now) + settings.session_idle)
    return {**view, "expires_at": expires.isoformat()}


def sign_out(session, session_token, ip, request_id, now):
    """End a session (repeating it is harmless); recorded in the audit trail."""
    found = session.execute(
        select(OperatorSessionRow, OperatorRow)
        .outerjoin(OperatorRow, OperatorRow.id == OperatorSessionRow.operator_id)
        .where(OperatorSessionRow.token_hash == token_hash(str(session_token)),
               OperatorSessionRow.ended_at.is_(None))).first()
    if found is None:
        return {"signed_out": False}
    row, operator = found
    row.ended_at = now
    name, role = (operator.name, operator.role) if operator else (TOKEN_OPERATOR, "owner")
    record_action(session, dict(operator=name, role=role, action="sign_out", outcome="ok",
                                ip=ip, request_id=request_id), now)
    return {"signed_out": True}


# --- the audit trail --------------------------------------------------------------------------

def record_action(session, entry, now=None):
    """One operator action into the audit trail; fields named like a secret are left out."""
    details = {key: value for key, value in (entry.get("details") or {}).items()
               if not any(secret in key.lower() for secret in SECRET_FIELDS)}
    row = AuditRow(operator=entry["operator"], role=entry.get("role"), action=entry["action"],
                   target=entry.get("target"), booking_id=entry.get("booking_id"),
                   details=details, outcome=entry.get("outcome") or "ok",
                   ip=entry.get("ip"), request_id=entry.get("request_id"))
    if now is not None:
        row.at = now
    session.add(row)
    session.flush()
    return audit_view(row)


def record_outcome(session, audit_id, outcome, booking_id=None):
    """How a pending action ended; the booking it made, where it names none yet. Only a
    pending entry changes, so a repeat does nothing."""
    session.execute(
        update(AuditRow)
        .where(AuditRow.id == audit_id, AuditRow.outcome == AUDIT_PENDING)
        .values(outcome=outcome, booking_id=func.coalesce(AuditRow.booking_id, booking_id)))


def audit_view(row):
    return {"id": row.id, "at": row.at.isoformat() if row.at else None,
            "operator": row.operator, "role": row.role, "action": row.action,
            "target": row.target, "booking_id": row.booking_id, "details": row.details or {},
            "outcome": row.outcome, "ip": row.ip, "request_id": row.request_id}


def list_audit(session, filters):
    """{items, next_cursor}: the audit trail newest first, by booking and by operator."""
    filters = load(AuditQuerySchema, filters)
    query = select(AuditRow).order_by(AuditRow.id.desc())
    if "booking_id" in filters:
        query = query.where(AuditRow.booking_id == filters["booking_id"])
    if "operator" in filters:
        query = query.where(AuditRow.operator == filters["operator"])
    if filters.get("cursor"):
        # ASCII digits only ("²".isdigit() is true), and few enough for a bigint
        if not re.fullmatch(r"[0-9]{1,18}", filters["cursor"]):
            raise InvalidRequest("The cursor is not one this API gave out.",
                                 {"cursor": ["unknown cursor"]})
        query = query.where(AuditRow.id < int(filters["cursor"]))
    limit = filters["limit"]
    rows = session.scalars(query.limit(limit + 1)).all()
    return {"items": [audit_view(row) for row in rows[:limit]],
            "next_cursor": str(rows[limit - 1].id) if len(rows) > limit else None}


def forget_ended_sessions(session, now, keep=timedelta(days=7)):
    """Sessions over for a week are of no more use to anyone."""
    session.execute(text("DELETE FROM operator_sessions WHERE ends_at < :before"),
                    {"before": now - keep})

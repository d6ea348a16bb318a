"""The dashboard's own API: signing operators in and out, their accounts, the audit trail.
Accounts, sessions and the trail live in `integration`; one RPC per endpoint."""
from contracts.errors.base import InvalidRequest
from contracts.operators import (
    AuditPageSchema,
    AuditQuerySchema,
    CreateOperatorSchema,
    OperatorSchema,
    PhoneBookingAnswerSchema,
    PhoneBookingSchema,
    SessionSchema,
    SignInSchema,
    UpdateOperatorSchema,
)
from gateway import auth as access
from gateway.errors import MalformedBody, Unauthorized
from gateway.http import api, json_response

TAG = "operators"
PAYMENT_LINK_TEXT = ("Бронь {hall}, {when}. Оплатите {amount:.2f} ₽, чтобы подтвердить её: {url}\n"
                     "Booking {hall}, {when}. Pay {amount:.2f} RUB to confirm it: {url}")
LINK_CHANNELS = (("email", "email"), ("telegram", "telegram_chat_id"))


def _session_answer(operator, session_token, expires_at):
    return {"operator": operator, "csrf_token": access.csrf_token(session_token),
            "expires_at": expires_at}


def _is_https(request, public_url):
    forwarded = request.headers.get("X-Forwarded-Proto", "")
    return request.scheme == "https" or forwarded == "https" or public_url.startswith("https:")


class AdminApi:
    @api("POST", "/api/admin/session", tag=TAG, body=SignInSchema, response=SessionSchema,
         errors=[401, 429],
         summary="Sign an operator in with {name, password} (or {token}: the admin token, as "
                 "the owner). Sets the session cookie (HttpOnly, SameSite=Strict, Secure over "
                 "HTTPS); the answer's csrf_token goes in X-CSRF-Token on every change. Failed "
                 "tries per name or address are limited (429 with details.retry_after)")
    def sign_in(self, request, body):
        # JSON only: a form posted from another site cannot sign a browser in.
        if request.mimetype != "application/json":
            raise MalformedBody("Sign in with a JSON body (Content-Type: application/json).")
        if "token" in body:
            credentials = {"token": body["token"]}
        elif body.get("name") and "password" in body:
            credentials = {"name": body["name"], "password": body["password"]}
        else:
            raise InvalidRequest("Give a name and a password, or the token.",
                                 {"name": ["name and password, or token"]})
        opened = self.integration.sign_in(credentials, ip=request.remote_addr,
                                          request_id=access.request_id(request))
        token = opened["session_token"]
        response = json_response(200, _session_answer(opened["operator"], token,
                                                      opened["expires_at"]))
        secure = _is_https(request, self.public_url)
        max_age = self.operator_rules["session_max_hours"] * 3600
        response.set_cookie(access.SESSION_COOKIE, token, max_age=max_age, path="/",
                            httponly=True, secure=secure, samesite="Strict")
        # Readable by the dashboard's script, which echoes it in X-CSRF-Token.
        response.set_cookie(access.CSRF_COOKIE, access.csrf_token(token), max_age=max_age,
                            path="/", httponly=False, secure=secure, samesite="Strict")
        return response

    @api("GET", "/api/admin/session", tag=TAG, auth="admin", response=SessionSchema,
         summary="Who is signed in (the session cookie), with the session's csrf_token")
    def current_session(self, request):
        operator = access.operator_of(request)
        if operator.session_token is None:
            return {"operator": {"name": operator.name, "role": operator.role, "active": True},
                    "csrf_token": "", "expires_at": ""}
        found = self.integration.session_operator(operator.session_token)
        return _session_answer({k: found[k] for k in ("name", "role", "active")},
                               operator.session_token, found["expires_at"])

    @api("DELETE", "/api/admin/session", tag=TAG, errors=[403],
         summary="Sign out: the session ends and its cookies are cleared")
    def sign_out(self, request):
        session_token = request.cookies.get(access.SESSION_COOKIE)
        if not session_token:
            raise Unauthorized("Not signed in.")
        # The CSRF rule holds here too: another site must not sign an operator out.
        access.signed_in_operator(request, self.admin_token, self.integration)
        self.integration.sign_out(session_token, ip=request.remote_addr,
                                  request_id=access.request_id(request))
        response = json_response(200, {"signed_out": True})
        for name in (access.SESSION_COOKIE, access.CSRF_COOKIE):
            response.delete_cookie(name, path="/", samesite="Strict")
        return response

    @api("GET", "/api/admin/operators", tag=TAG, auth="admin", role="owner",
         response=OperatorSchema, many=True, summary="Operator accounts (owner)")
    def list_operators(self, request):
        return self.integration.list_operators()

    @api("POST", "/api/admin/operators", tag=TAG, auth="admin", role="owner",
         body=CreateOperatorSchema, response=OperatorSchema, status=201, errors=[409],
         summary="Create an operator account (owner); a repeat with the same fields answers "
                 "the same account")
    def create_operator(self, request, body):
        return self.integration.create_operator(body["name"], body["password"], body["role"])

    @api("PATCH", "/api/admin/operators/<name>", tag=TAG, auth="admin", role="owner",
         body=UpdateOperatorSchema, response=OperatorSchema, errors=[404],
         summary="Change an operator's role, password or active flag (owner); a new "
                 "password or deactivation ends their sessions")
    def update_operator(self, request, name, body):
        return self.integration.update_operator(name, body)

    @api("GET", "/api/admin/audit", tag=TAG, auth="admin", query=AuditQuerySchema,
         response=AuditPageSchema,
         summary="The audit trail newest first: every operator action, who, when, from "
                 "which address, under which request id; by booking or by operator")
    def audit_trail(self, request, query):
        return self.integration.list_audit(**query)

    @api("POST", "/api/admin/bookings", tag=TAG, auth="admin", body=PhoneBookingSchema,
         response=PhoneBookingAnswerSchema, status=201, errors=[404, 409],
         summary="A booking taken by phone: payment=desk holds it until it starts (paid on "
                 "arrival); payment=link holds it like an online booking, starts a payment "
                 "and sends its link to the customer's e-mail and Telegram. An "
                 "Idempotency-Key header makes the link's payment and messages one")
    def phone_booking(self, request, body):
        fields = ("hall_id", "start", "end", "customer", "comment")
        # paid at the desk on arrival: held until it starts, not for the online hold's minutes
        booking = self.booking.create_booking({k: body[k] for k in fields if k in body},
                                              held_until_start=body["payment"] == "desk")
        booking.pop("access_token", None)   # the customer gets a link, not the token
        if body["payment"] == "desk":
            return {"booking": booking, "payment": None, "sent_to": []}
        key = request.headers.get("Idempotency-Key") or booking["id"]
        payment = self.payments.create_payment(booking["id"], body["kind"], body["gateway"],
                                                idempotency_key=f"phone-{key}")
        text = PAYMENT_LINK_TEXT.format(
            hall=booking["hall_name"], when=f"{booking['start'][:16].replace('T', ' ')}",
            amount=payment["amount"] / 100, url=payment["confirmation_url"])
        sent_to = []
        for channel, field in LINK_CHANNELS:
            recipient = (booking.get("customer") or {}).get(field)
            if recipient:
                self.notifications.send(channel=channel, recipient=str(recipient), text=text,
                                        booking_id=booking["id"],
                                        request_id=f"phone-link-{key}-{channel}")
                sent_to.append(channel)
        return {"booking": booking, "payment": payment, "sent_to": sent_to}

"""Local fake payment providers that check what the real ones check.

Each fake is a small HTTP server on 127.0.0.1 (a free port), started in a background thread:

    fake = FakeTinkoff(terminal_key="T", password="p").start()
    ...  # point the adapter at fake.url (+ the provider's path prefix)
    fake.stop()

They keep every request they get in `requests_seen`, and their test helpers (`pay`, `cancel`,
`decline`) move a payment on and deliver the provider's real notification to `notify_url` /
`callback_url`, recording what came back in `deliveries`.

Signatures are computed here independently of the adapters, so a mistake in an adapter's
algorithm shows up as a refusal rather than being mirrored. So are fiscal receipts (54-ФЗ):
each fake checks its provider's receipt fields and that the items add up to the money, and
with `receipt_required` (a shop whose cash register is on) refuses money without a receipt.
"""
import base64
import hashlib
import hmac
import itertools
import json
import re
import threading
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import requests


def _now_iso():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Handler(BaseHTTPRequestHandler):
    fake = None  # set on the per-server subclass

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        status, content_type, answer = self.fake.answer(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=dict(self.headers.items()),
            body=body,
            remote_addr=self.client_address[0],
        )
        data = answer if isinstance(answer, bytes) else answer.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _serve

    def log_message(self, format, *args):  # keep test output quiet
        pass


class LocalServer:
    """A ThreadingHTTPServer on 127.0.0.1 whose answers come from `answer()`."""

    def __init__(self):
        self._server = None
        self._thread = None
        self.lock = threading.RLock()

    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def answer(self, method, path, query, headers, body, remote_addr):
        raise NotImplementedError


# 54-ФЗ: what the providers accept (their own names)
PAYMENT_MODES = {"full_prepayment", "partial_prepayment", "advance", "full_payment",
                 "partial_payment", "credit", "credit_payment"}
PAYMENT_SUBJECTS = {"commodity", "excise", "job", "service", "gambling_bet", "gambling_prize",
                    "lottery", "lottery_prize", "intellectual_activity", "payment",
                    "agent_commission", "composite", "another"}
TBANK_TAXATION = {"osn", "usn_income", "usn_income_outcome", "envd", "esn", "patent"}
TBANK_TAX = {"none", "vat0", "vat10", "vat20", "vat110", "vat120"}
TBANK_METHODS = (PAYMENT_MODES - {"partial_prepayment"}) | {"prepayment"}
_PHONE = re.compile(r"^\+?[0-9]{11,15}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _contact_problem(email, phone):
    if not email and not phone:
        return "the customer's email or phone is required"
    if email and not _EMAIL.match(str(email)):
        return "the customer's email is not valid"
    if phone and not _PHONE.match(str(phone)):
        return "the customer's phone is not valid"
    return None


def _json(status, payload):
    return status, "application/json; charset=utf-8", json.dumps(payload, ensure_ascii=False)


class WebhookEndpoint(LocalServer):
    """Our side of a webhook: hands each delivery to the adapter, as the payments service will.

    A forged notification is answered 403, a genuine one with the adapter's notification_reply.
    """

    def __init__(self, provider):
        super().__init__()
        self.provider = provider
        self.accepted = []  # Notification objects
        self.refused = []  # NotificationForged messages

    def answer(self, method, path, query, headers, body, remote_addr):
        from services.payments.providers import NotificationForged

        try:
            notification = self.provider.verify_notification(headers, body, query, remote_addr)
        except NotificationForged as exc:
            with self.lock:
                self.refused.append(str(exc))
            return 403, "text/plain", "forged"
        with self.lock:
            self.accepted.append(notification)
        return self.provider.notification_reply()


class _Delivering:
    """What a fake provider does to deliver a notification, and what it saw come back."""

    def _deliver(self, method, url, **kwargs):
        response = requests.request(method, url, timeout=5, **kwargs)
        delivery = {"url": url, "status": response.status_code, "body": response.text, **kwargs}
        with self.lock:
            self.deliveries.append(delivery)
        return delivery


# --- YooKassa ---------------------------------------------------------------------------------

_RUBLES = re.compile(r"^\d+\.\d{2}$")


class FakeYooKassa(LocalServer, _Delivering):
    """YooKassa API v3 under `url + "/v3"`: Basic auth, Idempotence-Key, rubles as "1500.00"."""

    def __init__(self, shop_id="123456", secret_key="test_secret", notify_url=None):
        super().__init__()
        self.shop_id, self.secret_key, self.notify_url = shop_id, secret_key, notify_url
        self.payments = {}
        self.refunds = {}
        self.first_answers = {}  # (path, Idempotence-Key) -> (request body, answer)
        self.requests_seen = []
        self.deliveries = []
        self._outbox = []
        # True: refunds are answered `pending` and succeed only at settle_refunds(), as
        # YooKassa's do when the bank takes its time
        self.refunds_pending = False
        self.receipt_required = False
        self.receipts = []      # (payment or refund id, receipt) accepted

    @property
    def api_url(self):
        return self.url + "/v3"

    @staticmethod
    def _error(status, code, description, parameter=None):
        error = {"type": "error", "id": str(uuid.uuid4()), "code": code, "description": description}
        if parameter:
            error["parameter"] = parameter
        return _json(status, error)

    def _authorized(self, headers):
        expected = "Basic " + base64.b64encode(f"{self.shop_id}:{self.secret_key}".encode()).decode()
        given = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        return hmac.compare_digest(given.encode(), expected.encode())

    def answer(self, method, path, query, headers, body, remote_addr):
        with self.lock:
            self.requests_seen.append({"method": method, "path": path, "headers": headers, "body": body})
            result = self._answer(method, path, headers, body)
            outbox, self._outbox = self._outbox, []
        # Notifications go out after the answer is decided and the lock is free, as YooKassa
        # sends them on its own schedule, not inside the API call.
        for event, subject in outbox:
            self._notify(event, subject)
        return result

    def _answer(self, method, path, headers, body):
        if not self._authorized(headers):
            return self._error(401, "invalid_credentials", "Login and password are wrong")
        if method == "GET" and path.startswith("/v3/payments/"):
            payment = self.payments.get(path.rsplit("/", 1)[1])
            if payment is None:
                return self._error(404, "not_found", "Payment not found")
            return _json(200, payment)
        if method == "GET" and path.startswith("/v3/refunds/"):
            refund = self.refunds.get(path.rsplit("/", 1)[1])
            if refund is None:
                return self._error(404, "not_found", "Refund not found")
            return _json(200, refund)
        if method == "POST" and path in ("/v3/payments", "/v3/refunds"):
            return self._idempotent(path, headers, body)
        return self._error(404, "not_found", f"No such method {method} {path}")

    def _idempotent(self, path, headers, body):
        key = next((v for k, v in headers.items() if k.lower() == "idempotence-key"), None)
        if not key:
            return self._error(400, "invalid_request", "Idempotence-Key header is required", "Idempotence-Key")
        try:
            request = json.loads(body)
        except ValueError:
            return self._error(400, "invalid_request", "Body is not JSON")
        seen = self.first_answers.get((path, key))
        if seen is not None:
            first_request, first_answer = seen
            if first_request != request:
                return self._error(400, "invalid_request", "Idempotence-Key reused with other parameters")
            return first_answer
        create = self._create_payment if path == "/v3/payments" else self._create_refund
        answer = create(request)
        if answer[0] == 200:  # only a success is remembered, as YooKassa does
            self.first_answers[(path, key)] = (request, answer)
        return answer

    def _amount_error(self, amount):
        if not isinstance(amount, dict) or not isinstance(amount.get("value"), str):
            return self._error(400, "invalid_request", "amount.value must be a string", "amount.value")
        if not _RUBLES.match(amount["value"]) or Decimal(amount["value"]) <= 0:
            return self._error(400, "invalid_request", "amount.value must be like 1500.00", "amount.value")
        if amount.get("currency") != "RUB":
            return self._error(400, "invalid_request", "Unsupported currency", "amount.currency")
        return None

    def _receipt_error(self, request):
        receipt = request.get("receipt")
        if receipt is None:
            return self._error(400, "invalid_request", "Receipt is missing or illegal",
                               "receipt") if self.receipt_required else None
        customer = receipt.get("customer") or {}
        problem = _contact_problem(customer.get("email"), customer.get("phone"))
        items = receipt.get("items")
        if not problem and receipt.get("tax_system_code") not in range(1, 7):
            problem = "tax_system_code must be 1..6"
        if not problem and (not isinstance(items, list) or not items):
            problem = "items are required"
        total = Decimal(0)
        for item in items if not problem else ():
            price = item.get("amount") or {}
            if not 1 <= len(item.get("description") or "") <= 128:
                problem = "an item's description must be 1..128 characters"
            elif self._amount_error(price) or price["currency"] != request["amount"]["currency"]:
                problem = "an item's amount must be like 1500.00 in the payment's currency"
            elif item.get("vat_code") not in range(1, 7):
                problem = "an item's vat_code must be 1..6"
            elif item.get("payment_subject") not in PAYMENT_SUBJECTS:
                problem = "an item's payment_subject is unknown"
            elif item.get("payment_mode") not in PAYMENT_MODES:
                problem = "an item's payment_mode is unknown"
            else:
                total += Decimal(str(item.get("quantity"))) * Decimal(price["value"])
        if not problem and total != Decimal(request["amount"]["value"]):
            problem = (f"the items add up to {total:.2f}, not the amount "
                       f"{request['amount']['value']}")
        return self._error(400, "invalid_request", f"Receipt is illegal: {problem}",
                           "receipt") if problem else None

    def _create_payment(self, request):
        error = self._amount_error(request.get("amount")) or self._receipt_error(request)
        if error:
            return error
        confirmation = request.get("confirmation") or {}
        if confirmation.get("type") != "redirect" or not confirmation.get("return_url"):
            return self._error(400, "invalid_request", "confirmation.return_url is required", "confirmation")
        if len(request.get("description") or "") > 128:
            return self._error(400, "invalid_request", "description is too long", "description")
        metadata = request.get("metadata") or {}
        if len(metadata) > 16 or not all(isinstance(v, str) for v in metadata.values()):
            return self._error(400, "invalid_request", "metadata: at most 16 string values", "metadata")
        payment_id = str(uuid.uuid4())
        payment = {
            "id": payment_id,
            "status": "pending",
            "paid": False,
            "amount": request["amount"],
            "confirmation": {
                "type": "redirect",
                "return_url": confirmation["return_url"],
                "confirmation_url": f"{self.url}/checkout/payments/v2/contract?orderId={payment_id}",
            },
            "created_at": _now_iso(),
            "description": request.get("description"),
            "metadata": metadata,
            "recipient": {"account_id": self.shop_id, "gateway_id": "1"},
            "refundable": False,
            "test": True,
        }
        self.payments[payment_id] = payment
        if "receipt" in request:
            self.receipts.append((payment_id, request["receipt"]))
        return _json(200, payment)

    def _create_refund(self, request):
        payment = self.payments.get(request.get("payment_id"))
        if payment is None:
            return self._error(400, "invalid_request", "Payment not found", "payment_id")
        error = self._amount_error(request.get("amount")) or self._receipt_error(request)
        if error:
            return error
        if payment["status"] != "succeeded":
            return self._error(400, "invalid_request", "Only a succeeded payment can be refunded", "payment_id")
        refunded = Decimal((payment.get("refunded_amount") or {}).get("value", "0"))
        being_refunded = sum(Decimal(r["amount"]["value"]) for r in self.refunds.values()
                             if r["payment_id"] == payment["id"] and r["status"] == "pending")
        asked = Decimal(request["amount"]["value"])
        if refunded + being_refunded + asked > Decimal(payment["amount"]["value"]):
            return self._error(400, "invalid_request", "Refund exceeds the payment", "amount")
        refund = {
            "id": str(uuid.uuid4()),
            "payment_id": payment["id"],
            "status": "pending",
            "created_at": _now_iso(),
            "amount": request["amount"],
        }
        self.refunds[refund["id"]] = refund
        if "receipt" in request:
            self.receipts.append((refund["id"], request["receipt"]))
        if not self.refunds_pending:
            self._refund_done(refund)
        return _json(200, refund)

    def _refund_done(self, refund):
        payment = self.payments[refund["payment_id"]]
        refunded = Decimal((payment.get("refunded_amount") or {}).get("value", "0"))
        total = refunded + Decimal(refund["amount"]["value"])
        payment["refunded_amount"] = {"value": f"{total:.2f}", "currency": "RUB"}
        refund["status"] = "succeeded"
        self._outbox.append(("refund.succeeded", dict(refund)))

    def refund_in_dashboard(self, payment_id, value):
        """A refund made by hand in YooKassa's dashboard (no API call of ours), notified."""
        with self.lock:
            refund = {"id": str(uuid.uuid4()), "payment_id": payment_id, "status": "pending",
                      "created_at": _now_iso(), "amount": {"value": value, "currency": "RUB"}}
            self.refunds[refund["id"]] = refund
            self._refund_done(refund)
            outbox, self._outbox = self._outbox, []
        return [self._notify(event, subject) for event, subject in outbox]

    def settle_refunds(self, refused=False):
        """The bank is done: every pending refund succeeds (and is notified), or with
        `refused` is canceled (YooKassa notifies no refund.canceled)."""
        with self.lock:
            for refund in self.refunds.values():
                if refund["status"] != "pending":
                    continue
                if refused:
                    refund.update(status="canceled", cancellation_details={
                        "party": "yoo_money", "reason": "rejected_by_payee"})
                else:
                    self._refund_done(refund)
            outbox, self._outbox = self._outbox, []
        for event, subject in outbox:
            self._notify(event, subject)

    # Test helpers: what the payer (or YooKassa) does.
    def pay(self, payment_id):
        with self.lock:
            payment = self.payments[payment_id]
            payment.update(status="succeeded", paid=True, refundable=True, captured_at=_now_iso())
            subject = json.loads(json.dumps(payment))
        return self._notify("payment.succeeded", subject)

    def cancel(self, payment_id):
        with self.lock:
            payment = self.payments[payment_id]
            payment.update(status="canceled",
                           cancellation_details={"party": "yoo_money", "reason": "expired_on_confirmation"})
            subject = json.loads(json.dumps(payment))
        return self._notify("payment.canceled", subject)

    def _notify(self, event, subject):
        if not self.notify_url:
            return None
        notification = {"type": "notification", "event": event, "object": subject}
        return self._deliver("POST", self.notify_url, json=notification)


# --- T-Bank (Tinkoff) -------------------------------------------------------------------------


def tbank_token(body, password):
    """T-Bank's Token, written here from the spec independently of the adapter."""
    pairs = [(k, v) for k, v in body.items() if k != "Token" and not isinstance(v, (dict, list)) and v is not None]
    pairs.append(("Password", password))
    pairs.sort(key=lambda pair: pair[0])
    text = "".join(("true" if v else "false") if isinstance(v, bool) else str(v) for _, v in pairs)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class FakeTinkoff(LocalServer, _Delivering):
    """T-Bank MAPI v2 under `url + "/v2"`: every body signed with Token, OrderId unique."""

    def __init__(self, terminal_key="TestTerminal", password="test_password"):
        super().__init__()
        self.terminal_key, self.password = terminal_key, password
        self.payments = {}  # PaymentId -> state
        self.order_ids = set()
        self.cancels = {}  # ExternalRequestId -> first answer
        self.requests_seen = []
        self.deliveries = []
        self._payment_ids = itertools.count(4_000_000_001)
        self.receipt_required = False
        self.receipts = []      # (path, Receipt) accepted

    @property
    def api_url(self):
        return self.url + "/v2"

    def _receipt_problem(self, request, amount):
        receipt = request.get("Receipt")
        if receipt is None:
            return "Receipt обязателен для терминала с онлайн-кассой" if self.receipt_required \
                else None
        problem = _contact_problem(receipt.get("Email"), receipt.get("Phone"))
        items = receipt.get("Items")
        if not problem and receipt.get("Taxation") not in TBANK_TAXATION:
            problem = "Taxation неверен"
        if not problem and (not isinstance(items, list) or not items):
            problem = "Items обязательны"
        total = 0
        for item in items if not problem else ():
            price, quantity, line = item.get("Price"), item.get("Quantity"), item.get("Amount")
            if not item.get("Name") or len(item["Name"]) > 128:
                problem = "Name позиции: 1..128 символов"
            elif type(price) is not int or type(line) is not int or not quantity:
                problem = "Price и Amount позиции: целые копейки"
            elif Decimal(str(price)) * Decimal(str(quantity)) != line:
                problem = "Amount позиции не равен Price × Quantity"
            elif item.get("Tax") not in TBANK_TAX:
                problem = "Tax позиции неверен"
            elif item.get("PaymentMethod") not in TBANK_METHODS or \
                    item.get("PaymentObject") not in PAYMENT_SUBJECTS:
                problem = "PaymentMethod или PaymentObject позиции неверны"
            else:
                total += line
        if not problem and total != amount:
            problem = f"Сумма позиций чека {total} не равна сумме {amount}"
        return problem

    def _refusal(self, code, message, details=""):
        return _json(200, {"Success": False, "ErrorCode": code, "Message": message, "Details": details,
                           "TerminalKey": self.terminal_key})

    def answer(self, method, path, query, headers, body, remote_addr):
        with self.lock:
            try:
                request = json.loads(body)
            except ValueError:
                return self._refusal("9999", "Неверный формат запроса")
            self.requests_seen.append({"path": path, "body": request})
            if method != "POST" or not isinstance(request, dict):
                return self._refusal("9999", "Неверный формат запроса")
            if request.get("TerminalKey") != self.terminal_key:
                return self._refusal("202", "Терминал не найден")
            given = request.get("Token")
            if not isinstance(given, str) or not hmac.compare_digest(given, tbank_token(request, self.password)):
                return self._refusal("204", "Неверный токен. Проверьте пару TerminalKey и SecretKey.")
            if "Amount" in request and (type(request["Amount"]) is not int or request["Amount"] <= 0):
                return self._refusal("9999", "Неверные параметры", "Amount: целое число копеек")
            handlers = {"/v2/Init": self._init, "/v2/GetState": self._get_state, "/v2/Cancel": self._cancel}
            if path not in handlers:
                return self._refusal("9999", "Метод не найден")
            return handlers[path](request)

    def _answer(self, payment, **extra):
        return _json(200, {"Success": True, "ErrorCode": "0", "TerminalKey": self.terminal_key,
                           "Status": payment["Status"], "PaymentId": payment["PaymentId"],
                           "OrderId": payment["OrderId"], **extra})

    def _init(self, request):
        order_id = request.get("OrderId")
        if not order_id or "Amount" not in request:
            return self._refusal("9999", "Неверные параметры", "OrderId и Amount обязательны")
        if order_id in self.order_ids:
            return self._refusal("8", "Неверный статус транзакции", f"OrderId {order_id} уже использован")
        if len(request.get("Description") or "") > 140:
            return self._refusal("9999", "Неверные параметры", "Description длиннее 140 символов")
        problem = self._receipt_problem(request, request["Amount"])
        if problem:
            return self._refusal("308", "Неверные параметры чека", problem)
        if "Receipt" in request:
            self.receipts.append(("Init", request["Receipt"]))
        self.order_ids.add(order_id)
        payment_id = str(next(self._payment_ids))
        payment = {
            "PaymentId": payment_id, "OrderId": order_id, "Amount": request["Amount"], "Refunded": 0,
            "Status": "NEW", "NotificationURL": request.get("NotificationURL"),
        }
        self.payments[payment_id] = payment
        return self._answer(payment, Amount=payment["Amount"], PaymentURL=f"{self.url}/new/{payment_id}")

    def _get_state(self, request):
        payment = self.payments.get(str(request.get("PaymentId")))
        if payment is None:
            return self._refusal("7", "Платёж не найден")
        return self._answer(payment, Amount=payment["Amount"], Message="OK")

    def _cancel(self, request):
        external_id = request.get("ExternalRequestId")
        if external_id and external_id in self.cancels:
            return self.cancels[external_id]
        payment = self.payments.get(str(request.get("PaymentId")))
        if payment is None:
            return self._refusal("7", "Платёж не найден")
        original = payment["Amount"] - payment["Refunded"]
        if payment["Status"] == "NEW":
            payment["Status"] = "CANCELED"
            answer = self._answer(payment, OriginalAmount=original, NewAmount=0)
        elif payment["Status"] in ("CONFIRMED", "PARTIAL_REFUNDED"):
            amount = request.get("Amount", original)
            if amount > original:
                return self._refusal("9999", "Сумма возврата больше суммы платежа")
            problem = self._receipt_problem(request, amount)
            if problem:
                return self._refusal("308", "Неверные параметры чека", problem)
            if "Receipt" in request:
                self.receipts.append(("Cancel", request["Receipt"]))
            payment["Refunded"] += amount
            payment["Status"] = "REFUNDED" if payment["Refunded"] == payment["Amount"] else "PARTIAL_REFUNDED"
            answer = self._answer(payment, OriginalAmount=original, NewAmount=original - amount)
        else:
            return self._refusal("9999", "Неверный статус транзакции")
        if external_id:
            status, content_type, text = answer
            payload = json.loads(text)
            payload["ExternalRequestId"] = external_id
            answer = _json(status, payload)
            self.cancels[external_id] = answer
        return answer

    # Test helpers.
    def pay(self, payment_id):
        return self._settle(payment_id, "CONFIRMED", success=True)

    def decline(self, payment_id):
        return self._settle(payment_id, "REJECTED", success=False)

    def notification_for(self, payment_id):
        """The signed notification T-Bank would send about this payment's current state."""
        with self.lock:
            payment = self.payments[payment_id]
            notification = {
                "TerminalKey": self.terminal_key, "OrderId": payment["OrderId"],
                "Success": payment["Status"] != "REJECTED", "Status": payment["Status"],
                "PaymentId": int(payment_id),  # a number here, a string in API answers
                "ErrorCode": "0" if payment["Status"] != "REJECTED" else "1051",
                "Amount": payment["Amount"], "CardId": 10452089, "Pan": "430000******0777",
                "ExpDate": "1230",
            }
        notification["Token"] = tbank_token(notification, self.password)
        return notification

    def _settle(self, payment_id, status, success):
        with self.lock:
            payment = self.payments[payment_id]
            payment["Status"] = status
            url = payment["NotificationURL"]
        if not url:
            return None
        delivery = self._deliver("POST", url, json=self.notification_for(payment_id))
        # T-Bank counts a notification as delivered only on HTTP 200 with the body exactly "OK".
        delivery["accepted"] = delivery["status"] == 200 and delivery["body"] == "OK"
        return delivery


# --- Sber acquiring ---------------------------------------------------------------------------


def sber_checksum(params, callback_key):
    """Sber's callback checksum in upper case, as Sber sends it; written here from the spec."""
    text = "".join(f"{k};{v};" for k, v in sorted(params.items()) if k not in ("checksum", "sign_alias"))
    return hmac.new(callback_key.encode(), text.encode("utf-8"), hashlib.sha256).hexdigest().upper()


class FakeSber(LocalServer, _Delivering):
    """Sber RBS REST under `url + "/payment/rest/"`: userName/password, orderNumber unique."""

    def __init__(self, username="test-api", password="test_password", callback_key="callback_key",
                 callback_url=None):
        super().__init__()
        self.username, self.password = username, password
        self.callback_key, self.callback_url = callback_key, callback_url
        self.orders = {}  # orderId -> state
        self.order_numbers = set()
        self.requests_seen = []
        self.deliveries = []
        self.receipt_required = False
        self.receipts = []      # (method, the items' JSON) accepted

    @property
    def api_url(self):
        return self.url + "/payment/rest/"

    @staticmethod
    def _items_problem(items, amount):
        if not isinstance(items, list) or not items:
            return "позиции обязательны"
        total = 0
        for item in items:
            quantity = (item.get("quantity") or {}).get("value")
            price, line = item.get("itemPrice"), item.get("itemAmount")
            attributes = {a.get("name"): a.get("value") for a in
                          (item.get("itemAttributes") or {}).get("attributes") or []}
            if not item.get("name") or not item.get("positionId") or not quantity:
                return "positionId, name и quantity позиции обязательны"
            if type(price) is not int or type(line) is not int or \
                    Decimal(str(price)) * Decimal(str(quantity)) != line:
                return "itemAmount позиции не равен itemPrice × quantity"
            if (item.get("tax") or {}).get("taxType") not in range(0, 11):
                return "taxType позиции неверен"
            if attributes.get("paymentMethod") not in {str(n) for n in range(1, 8)} or \
                    attributes.get("paymentObject") not in {str(n) for n in range(1, 20)}:
                return "paymentMethod или paymentObject позиции неверны"
            total += line
        if total != amount:
            return f"сумма позиций {total} не равна сумме {amount}"
        return None

    def _bundle_problem(self, form):
        if "orderBundle" not in form:
            return "orderBundle обязателен (онлайн-касса)" if self.receipt_required else None
        try:
            bundle = json.loads(form["orderBundle"])
        except ValueError:
            return "orderBundle: неверный JSON"
        customer = bundle.get("customerDetails") or {}
        if form.get("taxSystem") not in {str(n) for n in range(0, 6)}:
            return "taxSystem неверен"
        return _contact_problem(customer.get("email"), customer.get("phone")) or \
            self._items_problem((bundle.get("cartItems") or {}).get("items"),
                                int(form["amount"]))

    def answer(self, method, path, query, headers, body, remote_addr):
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        with self.lock:
            self.requests_seen.append({"path": path, "form": form})
            if form.get("userName") != self.username or form.get("password") != self.password:
                return _json(200, {"errorCode": "5", "errorMessage": "Доступ запрещён."})
            handlers = {
                "/payment/rest/register.do": self._register,
                "/payment/rest/getOrderStatusExtended.do": self._status,
                "/payment/rest/refund.do": self._refund,
            }
            if path not in handlers:
                return 404, "text/plain", "not found"
            return handlers[path](form)

    def _register(self, form):
        number = form.get("orderNumber")
        if not number:
            return _json(200, {"errorCode": "1", "errorMessage": "Номер заказа не указан"})
        if number in self.order_numbers:
            return _json(200, {"errorCode": "1", "errorMessage": "Заказ с таким номером уже обработан"})
        if not form.get("amount", "").isdigit() or int(form["amount"]) <= 0:
            return _json(200, {"errorCode": "4", "errorMessage": "Сумма указана неверно"})
        if form.get("currency", "643") != "643":
            return _json(200, {"errorCode": "7", "errorMessage": "Валюта не поддерживается"})
        if not form.get("returnUrl"):
            return _json(200, {"errorCode": "4", "errorMessage": "URL возврата не указан"})
        problem = self._bundle_problem(form)
        if problem:
            return _json(200, {"errorCode": "1", "errorMessage": f"Корзина: {problem}"})
        if "orderBundle" in form:
            self.receipts.append(("register.do", json.loads(form["orderBundle"])))
        self.order_numbers.add(number)
        order_id = str(uuid.uuid4())
        self.orders[order_id] = {
            "orderNumber": number, "amount": int(form["amount"]), "orderStatus": 0,
            "orderDescription": form.get("description", ""), "deposited": 0, "refunded": 0,
        }
        return _json(200, {"orderId": order_id,
                           "formUrl": f"{self.url}/payment/merchants/test/payment_ru.html?mdOrder={order_id}"})

    def _status(self, form):
        order = self.orders.get(form.get("orderId"))
        if order is None:
            return _json(200, {"errorCode": "6", "errorMessage": "Заказ не найден"})
        state = {0: "CREATED", 2: "DEPOSITED", 4: "REFUNDED", 6: "DECLINED"}.get(order["orderStatus"], "CREATED")
        return _json(200, {
            "errorCode": "0", "errorMessage": "Успешно", "orderNumber": order["orderNumber"],
            "orderStatus": order["orderStatus"], "actionCode": 0, "amount": order["amount"],
            "currency": "643", "orderDescription": order["orderDescription"],
            "paymentAmountInfo": {"paymentState": state, "approvedAmount": order["deposited"],
                                  "depositedAmount": order["deposited"], "refundedAmount": order["refunded"]},
        })

    def _refund(self, form):
        order = self.orders.get(form.get("orderId"))
        if order is None:
            return _json(200, {"errorCode": "6", "errorMessage": "Заказ не найден"})
        if not form.get("amount", "").isdigit():
            return _json(200, {"errorCode": "4", "errorMessage": "Сумма указана неверно"})
        amount = int(form["amount"])
        if order["orderStatus"] not in (2, 4) or amount > order["deposited"] - order["refunded"]:
            return _json(200, {"errorCode": "7", "errorMessage": "Сумма возврата превышает сумму списания"})
        if "refundItems" in form or self.receipt_required:
            try:
                items = json.loads(form.get("refundItems") or "{}").get("items")
            except ValueError:
                items = None
            problem = self._items_problem(items, amount)
            if problem:
                return _json(200, {"errorCode": "1", "errorMessage": f"Корзина возврата: {problem}"})
            self.receipts.append(("refund.do", items))
        order["refunded"] += amount
        order["orderStatus"] = 4
        return _json(200, {"errorCode": "0", "errorMessage": "Успешно"})

    # Test helpers.
    def callback_params(self, order_id, operation="deposited", status="1"):
        with self.lock:
            order = self.orders[order_id]
            params = {"mdOrder": order_id, "orderNumber": order["orderNumber"],
                      "operation": operation, "status": status}
        params["checksum"] = sber_checksum(params, self.callback_key)
        return params

    def pay(self, order_id):
        with self.lock:
            order = self.orders[order_id]
            order.update(orderStatus=2, deposited=order["amount"])
        if not self.callback_url:
            return None
        return self._deliver("GET", self.callback_url + "?" + urlencode(self.callback_params(order_id)))

    def decline(self, order_id):
        with self.lock:
            self.orders[order_id]["orderStatus"] = 6
        if not self.callback_url:
            return None
        params = self.callback_params(order_id, operation="declinedByTimeout", status="1")
        return self._deliver("GET", self.callback_url + "?" + urlencode(params))

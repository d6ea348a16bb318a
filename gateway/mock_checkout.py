"""The mock provider's checkout page (PAYMENT_ENV=mock): what a payer sees instead of a bank's.

HTML for a person, so errors are shown as a small page, but they still come from the one
table (gateway.errors.status_and_body): same status, same message, never a stack trace.
"""
from html import escape

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from gateway.errors import BodyTooLarge, status_and_body
from gateway.http import JsonHttpEntrypoint

CURRENCY_SIGNS = {"RUB": "₽"}
STYLE = ("body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;"
         "padding:0 1rem;color:#222}h1{font-size:1.3rem}.amount{font-size:2rem;margin:1rem 0}"
         "input{font-size:1.1rem;padding:.4rem;width:100%;box-sizing:border-box}"
         "button{font-size:1.1rem;padding:.5rem 1.5rem;margin-top:1rem}"
         ".note{color:#666;font-size:.9rem}")


class HtmlPageEntrypoint(JsonHttpEntrypoint):
    """An HTTP endpoint answering a person: its errors become a small HTML page."""

    def response_from_exception(self, exc):
        if isinstance(exc, RequestEntityTooLarge):
            exc = BodyTooLarge("The form is too large.")
        status, body = status_and_body(exc)
        details = body["details"] if isinstance(body.get("details"), dict) else {}
        items = "".join(f"<li>{escape(str(field))}: {escape(_text(messages))}</li>"
                        for field, messages in details.items()
                        if isinstance(messages, (list, str)))
        content = f"<h1>{escape(body['message'])}</h1>" + (f"<ul>{items}</ul>" if items else "")
        return html_response(status, "Payment", content)


page = HtmlPageEntrypoint.decorator


def _text(messages):
    return "; ".join(str(m) for m in messages) if isinstance(messages, list) else str(messages)


def html_response(status, title, content):
    document = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
                f"<body>{content}</body></html>")
    return Response(document, status=status, mimetype="text/html")


def money(amount, currency):
    whole, kopecks = divmod(int(amount), 100)
    sign = CURRENCY_SIGNS.get(currency, currency)
    return f"{whole:,}".replace(",", "\u00a0") + f",{kopecks:02d}\u00a0{sign}"


def checkout_content(checkout):
    title = escape(checkout["description"])
    amount = escape(money(checkout["amount"], checkout["currency"]))
    outcome = checkout["outcome"]
    if outcome is not None or checkout["status"] != "pending":
        said = {"succeeded": "Paid. Thank you!", "failed": "The card was declined."}.get(
            outcome, f"This payment is {checkout['status']}.")
        back = (f'<p><a href="{escape(checkout["return_url"])}">Back to the studio</a></p>'
                if checkout["return_url"] else "")
        return f"<h1>{title}</h1><p class=\"amount\">{amount}</p><p>{escape(said)}</p>{back}"
    action = escape(f"/mock-checkout/{checkout['payment_id']}")
    paying, declined = (escape(checkout["test_cards"][card]) for card in ("paying", "declined"))
    return (f"<h1>{title}</h1><p class=\"amount\">{amount}</p>"
            f'<form method="post" action="{action}">'
            f'<label for="card">Card number</label>'
            f'<input id="card" name="card_number" inputmode="numeric" autocomplete="off" '
            f'placeholder="{paying}" required>'
            f"<button type=\"submit\">Pay {amount}</button></form>"
            f'<p class="note">Test mode: {paying} pays, {declined} is declined.</p>')


class MockCheckoutPages:
    @page("GET", "/mock-checkout/<payment_id>")
    def mock_checkout_page(self, request, payment_id):
        checkout = self.payments.get_mock_checkout(payment_id)
        return html_response(200, "Payment", checkout_content(checkout))

    @page("POST", "/mock-checkout/<payment_id>")
    def mock_checkout_pay(self, request, payment_id):
        result = self.payments.mock_checkout(payment_id, request.form.get("card_number", ""))
        # To the shop's return page, or back to this page, which now shows the outcome.
        return redirect(result["return_url"] or f"/mock-checkout/{result['payment_id']}",
                        code=303)

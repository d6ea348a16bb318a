"""The mock provider's checkout page (PAYMENT_ENV=mock): what a payer sees instead of a bank's.
In Russian, the studio's language; `?lang=en` switches it to English.

HTML for a person, so errors are shown as a small page, but they still come from the one
table (gateway.errors.status_and_body): same status, same message, never a stack trace.
"""
from html import escape
from urllib.parse import quote

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
         ".note{color:#666;font-size:.9rem}.lang{float:right}")
LANGUAGES = ("ru", "en")
TEXTS = {
    "ru": {"title": "Оплата", "paid": "Оплачено. Спасибо!", "declined": "Карта отклонена.",
           "state": "Статус платежа: {status}.", "back": "Вернуться в студию",
           "card": "Номер карты", "pay": "Оплатить {amount}",
           "note": "Тестовый режим: {paying} — оплата проходит, {declined} — отказ.",
           "other": ("en", "English")},
    "en": {"title": "Payment", "paid": "Paid. Thank you!", "declined": "The card was declined.",
           "state": "This payment is {status}.", "back": "Back to the studio",
           "card": "Card number", "pay": "Pay {amount}",
           "note": "Test mode: {paying} pays, {declined} is declined.",
           "other": ("ru", "Русский")},
}


def language(request):
    """The page's language: `?lang=` when it names one we have, else Russian."""
    asked = request.args.get("lang", "")
    return asked if asked in LANGUAGES else LANGUAGES[0]


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
        return html_response(status, TEXTS[LANGUAGES[0]]["title"], content)


page = HtmlPageEntrypoint.decorator


def _text(messages):
    return "; ".join(str(m) for m in messages) if isinstance(messages, list) else str(messages)


def html_response(status, title, content, lang=LANGUAGES[0]):
    document = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
                f"<body>{content}</body></html>")
    return Response(document, status=status, mimetype="text/html")


def money(amount, currency):
    whole, kopecks = divmod(int(amount), 100)
    sign = CURRENCY_SIGNS.get(currency, currency)
    return f"{whole:,}".replace(",", "\u00a0") + f",{kopecks:02d}\u00a0{sign}"


def checkout_content(checkout, lang=LANGUAGES[0]):
    texts = TEXTS[lang]
    page_url = f"/mock-checkout/{quote(checkout['payment_id'])}"
    other, other_name = texts["other"]
    switch = f'<a class="lang" href="{escape(page_url)}?lang={other}" lang="{other}">{other_name}</a>'
    title = escape(checkout["description"])
    amount = escape(money(checkout["amount"], checkout["currency"]))
    outcome = checkout["outcome"]
    if outcome is not None or checkout["status"] != "pending":
        said = {"succeeded": texts["paid"], "failed": texts["declined"]}.get(
            outcome, texts["state"].format(status=checkout["status"]))
        back = (f'<p><a href="{escape(checkout["return_url"])}">{texts["back"]}</a></p>'
                if checkout["return_url"] else "")
        return (f"{switch}<h1>{title}</h1><p class=\"amount\">{amount}</p>"
                f"<p>{escape(said)}</p>{back}")
    action = escape(f"{page_url}?lang={lang}")
    paying, declined = (escape(checkout["test_cards"][card]) for card in ("paying", "declined"))
    return (f"{switch}<h1>{title}</h1><p class=\"amount\">{amount}</p>"
            f'<form method="post" action="{action}">'
            f'<label for="card">{texts["card"]}</label>'
            f'<input id="card" name="card_number" inputmode="numeric" autocomplete="off" '
            f'placeholder="{paying}" required>'
            f'<button type="submit">{texts["pay"].format(amount=amount)}</button></form>'
            f'<p class="note">{texts["note"].format(paying=paying, declined=declined)}</p>')


class MockCheckoutPages:
    @page("GET", "/mock-checkout/<payment_id>")
    def mock_checkout_page(self, request, payment_id):
        checkout = self.payments.get_mock_checkout(payment_id)
        lang = language(request)
        return html_response(200, TEXTS[lang]["title"], checkout_content(checkout, lang), lang)

    @page("POST", "/mock-checkout/<payment_id>")
    def mock_checkout_pay(self, request, payment_id):
        result = self.payments.mock_checkout(payment_id, request.form.get("card_number", ""))
        # To the shop's return page, or back to this page, which now shows the outcome.
        back_here = f"/mock-checkout/{quote(result['payment_id'])}?lang={language(request)}"
        return redirect(result["return_url"] or back_here, code=303)

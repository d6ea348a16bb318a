"""The texts the notifications service adds: every one it may pick exists in every language
and renders from what its event carries."""
import pytest

from contracts.notifications import SENDABLE_TEMPLATES
from services.notifications.messages import available_templates, languages, render
from services.notifications.operations import BOOKING_MESSAGES, PAYMENT_MESSAGES, STUDIO_ALERTS, Settings, booking_links

BOOKING = {
    "booking_id": "b7a1c2d3-0000-4000-8000-000000000001", "hall_id": 3, "hall_name": "Белый зал",
    "start": "2026-11-22T15:30:00+00:00", "end": "2026-11-22T17:00:00+00:00",
    "status": "expired", "price_total": 450000, "prepayment_amount": 135000, "amount_paid": 0,
    "currency": "RUB", "customer": {"name": "Анна", "phone": "+79990001122"},
    **booking_links(Settings(), "b7a1c2d3-0000-4000-8000-000000000001")}
PAYMENT = {"payment_id": "p-9", "booking_id": BOOKING["booking_id"], "kind": "full",
           "amount": 450000, "currency": "RUB", "gateway": "sberpay", "status": "refunded",
           "refunded_amount": 150000, **booking_links(Settings(), BOOKING["booking_id"])}


@pytest.mark.parametrize("lang", languages())
def test_every_template_the_service_picks_exists(lang):
    picked = {t for pair in [*BOOKING_MESSAGES.values(), *PAYMENT_MESSAGES.values()]
              for t in pair if t} | set(SENDABLE_TEMPLATES) | set(STUDIO_ALERTS.values())
    assert picked <= set(available_templates(lang))


@pytest.mark.parametrize("lang", languages())
@pytest.mark.parametrize("with_booking", [True, False])
@pytest.mark.parametrize("template", ["studio_payment_failed", "studio_payment_refunded"])
def test_studio_payment_messages_render_with_or_without_the_booking(template, with_booking,
                                                                     lang):
    context = {**BOOKING, **PAYMENT} if with_booking else PAYMENT
    text = render(template, context, lang)
    subject, blank, body = text.split("\n", 2)
    assert subject and blank == "" and "p-9" in body and "sberpay" in body
    assert BOOKING["booking_id"] in text and "None" not in text
    assert ("Белый зал" in subject and "18:30" in subject) == with_booking
    assert ("+79990001122" in text) == with_booking


def test_a_refund_names_what_came_back_of_what_was_paid():
    text = render("studio_payment_refunded", PAYMENT)
    assert text.startswith("Возврат выполнен: 1\u00a0500,00\u00a0₽")
    assert "из 4\u00a0500,00\u00a0₽" in text


@pytest.mark.parametrize("lang", languages())
def test_the_studio_hears_of_a_released_hold(lang):
    text = render("studio_booking_expired", BOOKING, lang)
    assert "Белый зал" in text.splitlines()[0] and "+79990001122" in text


@pytest.mark.parametrize("template", ["payment_refunded", "studio_payment_refunded"])
def test_a_partial_refund_names_this_refund(template):
    text = render(template, {**BOOKING, **PAYMENT, "refund_amount": 50000})
    assert "500,00\u00a0₽" in text.splitlines()[0] and "1\u00a0500,00" not in text.splitlines()[0]


@pytest.mark.parametrize("lang", languages())
def test_the_studio_hears_which_webhook_endpoint_stopped_and_why(lang):
    text = render("studio_webhook_endpoint_disabled", {
        "endpoint_id": 7, "url": "https://crm.example/hooks", "reason": "the receiver "
        "answered 410 Gone", "failing_since": None}, lang)
    assert "https://crm.example/hooks" in text.splitlines()[0]
    assert "410 Gone" in text and "update_webhook_endpoint(7" in text

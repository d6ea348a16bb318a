import jinja2
import pytest

from services.common.booking_links import is_link_token
from services.notifications.messages import (
    NBSP,
    TemplateNotFound,
    available_templates,
    choose_customer_recipients,
    format_local_date,
    format_local_time,
    format_money,
    languages,
    render,
)
from services.notifications.operations import Settings, booking_links

EXPECTED_TEMPLATES = {
    "booking_confirmed", "booking_cancelled", "booking_expired", "payment_failed",
    "payment_refunded", "reminder", "studio_booking_confirmed", "studio_booking_cancelled",
}


def booking_payload(**changes):
    payload = {
        "booking_id": "b7a1c2d3-0000-4000-8000-000000000001",
        "hall_id": 3,
        "hall_name": "Белый зал",
        "start": "2026-11-22T15:30:00+00:00",   # 18:30 in Moscow
        "end": "2026-11-22T17:00:00Z",           # 20:00 in Moscow
        "status": "confirmed",
        "price_total": 450000,
        "prepayment_amount": 135000,
        "amount_paid": 135000,
        "refund_due": 135000,
        "currency": "RUB",
        "customer": {
            "name": "Анна Петрова",
            "phone": "+79990001122",
            "email": "anna@example.com",
            "telegram_chat_id": 424242,
        },
        # what record_messages adds for every message about a booking
        **booking_links(Settings(), "b7a1c2d3-0000-4000-8000-000000000001"),
    }
    payload.update(changes)
    return payload


def payment_payload(**changes):
    payload = {
        "payment_id": "p-1",
        "booking_id": "b7a1c2d3-0000-4000-8000-000000000001",
        "kind": "prepayment",
        "amount": 135000,
        "currency": "RUB",
        "gateway": "yookassa",
        "status": "failed",
        "refunded_amount": 135000,
        **booking_links(Settings(), "b7a1c2d3-0000-4000-8000-000000000001"),
    }
    payload.update(changes)
    return payload


def full_payload(template):
    if template.startswith("payment_"):
        # The caller merges the booking in when it knows it; the payment's own fields win.
        return {**booking_payload(), **payment_payload()}
    return booking_payload()


@pytest.mark.parametrize("kopecks, russian, english", [
    (0, "0,00 ₽", "0.00 RUB"),
    (100, "1,00 ₽", "1.00 RUB"),
    (150000, "1 500,00 ₽", "1,500.00 RUB"),
    (123456789, "1 234 567,89 ₽", "1,234,567.89 RUB"),
])
def test_money_is_shown_from_kopecks_in_each_language(kopecks, russian, english):
    # Thousands and the currency are separated by a no-break space, so the sum never wraps.
    assert format_money(kopecks, "RUB", "ru") == russian.replace(" ", NBSP)
    assert format_money(kopecks, "RUB", "en") == english.replace(" ", NBSP)


def test_money_in_another_currency_shows_its_code():
    assert format_money(250, "EUR", "ru") == f"2,50{NBSP}EUR"


def test_money_as_a_float_is_refused():
    with pytest.raises(TypeError):
        format_money(15.0, "RUB", "ru")


def test_money_filter_is_used_by_the_templates():
    text = render("booking_confirmed", booking_payload(price_total=150000, amount_paid=150000))
    assert f"1{NBSP}500,00{NBSP}₽" in text


def test_a_utc_time_is_shown_in_the_studio_time_zone():
    assert format_local_time("2026-11-22T15:30:00Z") == "18:30"
    assert format_local_time("2026-11-22T15:30:00+00:00", timezone="Europe/Moscow") == "18:30"


def test_a_time_with_another_offset_is_shown_in_the_studio_time_zone():
    assert format_local_time("2026-11-22T17:30:00+05:00") == "15:30"


def test_the_local_date_follows_the_studio_time_zone_across_midnight():
    # 22:30 UTC on the 21st is already the 22nd in Moscow.
    assert format_local_date("2026-11-21T22:30:00Z", "ru") == "22.11.2026"
    assert format_local_date("2026-11-21T22:30:00Z", "en") == "22 Nov 2026"


def test_render_shows_times_in_the_time_zone_it_is_given():
    text = render("reminder", booking_payload(), timezone="Asia/Yekaterinburg")
    assert "с 20:30 до 22:00" in text


def test_every_template_exists_in_every_language():
    assert set(languages()) == {"ru", "en"}
    assert set(available_templates()) >= EXPECTED_TEMPLATES
    assert available_templates("en") == available_templates("ru")


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("template", sorted(EXPECTED_TEMPLATES))
def test_every_template_renders_with_a_full_payload(template, lang):
    text = render(template, full_payload(template), lang=lang)

    subject, blank, body = text.split("\n", 2)
    assert subject.strip() and blank == "" and body.strip()
    assert "None" not in text and "Undefined" not in text
    assert "b7a1c2d3-0000-4000-8000-000000000001" in text
    assert "Белый зал" in subject
    assert "18:30" in text


def test_customer_messages_greet_the_customer_by_name():
    assert "Здравствуйте, Анна Петрова!" in render("booking_confirmed", booking_payload())
    assert "Hello Анна Петрова," in render("booking_confirmed", booking_payload(), lang="en")


def test_confirmation_shows_the_booking_in_russian():
    text = render("booking_confirmed", booking_payload())
    assert text.splitlines()[0] == "Бронь подтверждена: «Белый зал», 22.11.2026 в 18:30"
    assert "22.11.2026 с 18:30 до 20:00" in text
    assert f"Остаток к оплате: 3{NBSP}150,00{NBSP}₽ — в студии или онлайн: " in text


def test_confirmation_of_a_fully_paid_booking_asks_for_nothing_more():
    text = render("booking_confirmed", booking_payload(amount_paid=450000))
    assert "Остаток" not in text


def test_confirmation_in_english_uses_english_dates():
    text = render("booking_confirmed", booking_payload(), lang="en")
    assert text.splitlines()[0] == "Booking confirmed: Белый зал, 22 Nov 2026 at 18:30"


def test_cancellation_names_the_refund_due():
    text = render("booking_cancelled", booking_payload(refund_due=135000))
    assert f"Вернём 1{NBSP}350,00{NBSP}₽" in text


def test_cancellation_without_refund_says_the_payment_is_kept():
    text = render("booking_cancelled", booking_payload(refund_due=0))
    assert "не возвращается" in text and "Вернём" not in text


@pytest.mark.parametrize("template", ["booking_cancelled", "studio_booking_cancelled"])
def test_cancellation_without_a_refund_due_field_still_renders(template):
    payload = booking_payload()
    del payload["refund_due"]
    text = render(template, payload)
    assert "Вернём" not in text and "К возврату" not in text


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("template", sorted(EXPECTED_TEMPLATES))
def test_optional_customer_fields_may_be_missing(template, lang):
    payload = full_payload(template)
    payload.pop("refund_due")
    payload["customer"] = {"phone": "+79990001122", "telegram_chat_id": 424242}
    text = render(template, payload, lang=lang)
    assert "None" not in text and "anna@example.com" not in text


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("template", ["payment_failed", "payment_refunded"])
def test_payment_messages_cope_without_the_booking(template, lang):
    text = render(template, payment_payload(), lang=lang)
    assert f"1{NBSP}350,00{NBSP}₽" in text or f"1,350.00{NBSP}RUB" in text
    assert "b7a1c2d3-0000-4000-8000-000000000001" in text


def test_a_failed_prepayment_is_called_a_prepayment():
    assert "Предоплата" in render("payment_failed", payment_payload(kind="prepayment"))
    assert "Оплата 4" in render("payment_failed", payment_payload(kind="full", amount=450000))


def test_studio_messages_carry_the_customer_contacts():
    text = render("studio_booking_confirmed", booking_payload())
    assert "Анна Петрова" in text and "+79990001122" in text and "anna@example.com" in text


def test_a_missing_required_field_fails_loudly():
    payload = booking_payload()
    del payload["hall_name"]
    with pytest.raises(jinja2.UndefinedError):
        render("booking_confirmed", payload)


def test_an_unknown_template_is_refused():
    with pytest.raises(TemplateNotFound):
        render("booking_teleported", booking_payload())


def test_an_unknown_language_is_refused():
    with pytest.raises(TemplateNotFound):
        render("booking_confirmed", booking_payload(), lang="de")
    with pytest.raises(TemplateNotFound):
        available_templates("de")


def test_a_template_name_cannot_reach_outside_its_language():
    with pytest.raises(TemplateNotFound):
        render("../en/booking_confirmed", booking_payload())


def test_template_not_found_is_a_value_error():
    assert issubclass(TemplateNotFound, ValueError)


@pytest.mark.parametrize("customer, expected", [
    ({"telegram_chat_id": 42, "email": "a@example.com"}, [("telegram", "42"), ("email", "a@example.com")]),
    ({"telegram_chat_id": "42", "email": None}, [("telegram", "42")]),
    ({"telegram_chat_id": None, "email": "a@example.com"}, [("email", "a@example.com")]),
    ({"name": "Анна", "phone": "+79990001122"}, []),
    ({"telegram_chat_id": "", "email": ""}, []),
    (None, []),
])
def test_customer_is_reached_by_every_channel_they_gave(customer, expected):
    assert choose_customer_recipients(customer) == expected


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("template", ["booking_confirmed", "reminder", "booking_held",
                                      "booking_cancelled", "payment_refunded"])
def test_customer_messages_link_to_the_booking_page_with_its_link_token(template, lang):
    payload = full_payload(template)
    payload.update(amount_paid=135000, hold_expires_at="2026-11-22T12:15:00+00:00")
    text = render(template, payload, lang=lang)
    page = "http://127.0.0.1:8000/b/b7a1c2d3-0000-4000-8000-000000000001#t="
    assert page in text
    token = text.split("#t=")[1].split()[0].split("&")[0]
    assert is_link_token(Settings().link_secret, payload["booking_id"], token)
    if template in ("booking_confirmed", "reminder"):   # something is still due
        assert "&do=pay" in text and "&do=calendar" in text


@pytest.mark.parametrize("lang, words", [("ru", "ждёт оплаты до 15:15"),
                                         ("en", "awaits payment until 15:15")])
def test_the_hold_message_says_what_to_pay_by_when(lang, words):
    payload = booking_payload(status="pending_payment", amount_paid=0,
                              hold_expires_at="2026-11-22T12:15:00+00:00")
    text = render("booking_held", payload, lang=lang)
    assert words in text.splitlines()[0]
    assert "1" + NBSP + "350,00" + NBSP + "₽" in text or "1,350.00" + NBSP + "RUB" in text

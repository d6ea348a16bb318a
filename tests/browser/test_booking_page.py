"""A customer walks the booking page in headless Chromium: every service runs, the mock
checkout takes the card, and the booking's page follows the booking live."""
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from services.payments.providers.mock import DECLINED_CARD, PAYING_CARD

STUDIO_ZONE = ZoneInfo("Europe/Moscow")


def next_wednesday():
    """The Wednesday of next week in the studio's calendar (the page opens on this week)."""
    today = datetime.now(STUDIO_ZONE).date()
    return today - timedelta(days=today.weekday()) + timedelta(days=9)


def slot(day, clock):
    return f'button.slot[data-start="{day}T{clock}:00+03:00"]'


def amount(text):
    """'4 800 ₽' as the page writes it (with whatever space Intl puts in)."""
    return re.compile(r"\s".join(re.escape(part) for part in text.split(" ")))


def open_hall_week(page, base_url, hall):
    page.goto(base_url + "/")
    page.locator("li.hall", has_text=hall["name"]).get_by_role("button").click()
    expect(page.locator("#calendar-title")).to_contain_text(hall["name"])
    page.click("#next-week")


def choose_two_hours(page, day):
    page.click(slot(day, "10:00"))
    page.click(slot(day, "11:45"))
    expect(page.locator("#quote-total")).to_have_text(amount("4 800 ₽"))


def booking_id_of(page):
    return page.evaluate("Object.keys(localStorage).find(k => k.startsWith('studio.booking.'))"
                         ).removeprefix("studio.booking.")


def test_a_customer_books_pays_sees_it_confirmed_live_and_cancels_for_a_refund(
        browser, system, hall, steps):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = steps.watch(context.new_page(), "customer")
    day = next_wednesday()

    page.goto(system.base_url + "/")
    expect(page.get_by_role("heading", name="1. Выберите зал")).to_be_visible()
    card = page.locator("li.hall", has_text=hall["name"])
    expect(card).to_contain_text(amount("2 400 ₽/ч"))
    expect(card).to_contain_text(amount("сб, вс 09:00–22:00: 3 600 ₽/ч"))
    expect(card).to_contain_text("15 мин на уборку")
    steps.shot("halls")

    open_hall_week(page, system.base_url, hall)
    choose_two_hours(page, day)
    expect(page.locator("#quote")).to_contain_text("10:00–12:00 (2 ч)")
    steps.shot("quote")

    page.fill("#f-name", "Маша")
    page.fill("#f-phone", "12")
    page.fill("#f-email", "masha@example.com")
    page.click("#submit")
    expect(page.locator("#e-phone")).to_have_text(
        "Телефон: цифры, можно +, пробелы, скобки и дефисы.")
    expect(page.locator("#f-phone")).to_be_focused()
    steps.shot("bad-phone")

    page.fill("#f-phone", "+7 916 123-45-67")
    page.click("#submit")
    page.wait_for_url("**/mock-checkout/**")
    booking_id = booking_id_of(page)
    steps.shot("checkout")

    # The booking's page, open before the money comes, turns confirmed with no reload.
    mine = steps.watch(context.new_page(), "my-booking")
    mine.goto(f"{system.base_url}/b/{booking_id}")
    expect(mine.locator("#status")).to_have_text("Ждёт оплаты")
    expect(mine.locator("#live")).to_have_text("Статус обновляется сам")
    expect(mine.locator("#hold")).to_contain_text("Держим время за вами ещё")
    mine.evaluate("window.stillTheSameDocument = true")

    page.fill("#card", PAYING_CARD)
    page.locator("form button[type=submit]").click()   # the mock provider's own page
    page.wait_for_url(f"**/b/{booking_id}")
    expect(mine.locator("#status")).to_have_text("Подтверждена", timeout=10_000)
    assert mine.evaluate("window.stillTheSameDocument") is True
    expect(mine.locator("#paid")).to_have_text(amount("1 440 ₽"))
    expect(mine.locator("#due")).to_have_text(amount("3 360 ₽"))
    expect(page.locator("#status")).to_have_text("Подтверждена")
    expect(page.locator("#pay-rest")).to_have_text(amount("Оплатить остаток 3 360 ₽"))
    steps.shot("confirmed")

    mine.click("#cancel")
    expect(mine.locator("#cancel-question")).to_have_text(
        amount("Отменить бронь? Вернём 1 440 ₽."))
    steps.shot("cancel-question")
    mine.click("#cancel-yes")
    expect(mine.locator("#status")).to_have_text("Отменена")
    expect(mine.locator("#refund")).to_contain_text(amount("К возврату: 1 440 ₽"))
    expect(mine.locator("#note-refunded")).to_have_text(amount("Возврат 1 440 ₽ выполнен."),
                                                        timeout=15_000)
    steps.shot("refunded")
    assert steps.console_errors() == []


def test_a_declined_card_leaves_the_booking_unpaid_on_a_phone_with_the_keyboard(
        browser, system, hall, steps):
    context = browser.new_context(viewport={"width": 375, "height": 740})
    page = steps.watch(context.new_page(), "phone")
    day = next_wednesday()

    page.goto(system.base_url + "/")
    page.click("#lang")
    expect(page.get_by_role("heading", name="1. Choose a hall")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("li.hall", has_text=hall["name"]).get_by_role("button").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#calendar-title")).to_be_focused()
    page.focus("#next-week")
    page.keyboard.press("Enter")
    # one day at a time on a phone: its tab, then the slots, all by keyboard; the tab of the
    # week asked for, not of the one still shown while it loads
    wednesday = page.locator(".day-tabs button").nth(2)
    expect(wednesday).to_contain_text(re.compile(rf"\b{day.day}\b"))
    wednesday.focus()
    page.keyboard.press("Enter")
    page.focus(slot(day, "10:00"))
    page.keyboard.press("Enter")
    expect(page.locator("#quote")).to_contain_text("Now click when it ends")
    page.focus(slot(day, "11:45"))
    page.keyboard.press("Space")
    expect(page.locator("#quote-total")).to_have_text(re.compile(r"RUB\s4,800"))
    steps.shot("quote")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    page.focus("#f-name")
    page.keyboard.type("Ivan")
    page.keyboard.press("Tab")
    page.keyboard.type("+7 903 555-44-33")
    page.keyboard.press("Enter")   # submits the form
    page.wait_for_url("**/mock-checkout/**")
    booking_id = booking_id_of(page)
    page.fill("#card", DECLINED_CARD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/b/{booking_id}")

    expect(page.locator("#note-paymentFailed")).to_contain_text(
        "The payment failed: the bank declined the card.", timeout=10_000)
    expect(page.locator("#status")).to_have_text("Awaiting payment")
    expect(page.locator("#paid")).to_have_text(re.compile(r"RUB\s0"))
    expect(page.locator("#pay")).to_have_text(re.compile(r"Pay the prepayment RUB\s1,440"))
    steps.shot("declined")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert steps.console_errors() == []


def test_two_customers_choose_the_same_time_and_the_second_is_told_it_was_just_taken(
        browser, system, hall, steps):
    day = next_wednesday()
    first = steps.watch(browser.new_context().new_page(), "first")
    second = steps.watch(browser.new_context().new_page(), "second")
    for page, name in ((first, "Первый"), (second, "Второй")):
        open_hall_week(page, system.base_url, hall)
        choose_two_hours(page, day)
        page.fill("#f-name", name)
        page.fill("#f-phone", "+7 903 111-22-33")
    steps.shot("both-chose")

    first.click("#submit")
    first.wait_for_url("**/mock-checkout/**")
    second.click("#submit")
    expect(second.locator("#form-message")).to_have_text(
        "Это время только что заняли. Календарь обновлён — выберите другое.")
    expect(second.locator(slot(day, "10:00"))).to_have_count(0)   # shown taken now
    expect(second.locator(slot(day, "12:15"))).to_have_count(1)   # after the buffer: free
    expect(second.locator("#calendar-title")).to_be_focused()
    steps.shot("just-taken")
    # the browser itself logs the refused request (409); nothing else may be in the console
    assert steps.console_errors(expected=["status of 409"]) == []


def test_a_customer_moves_a_paid_booking_to_a_dearer_day_and_sees_the_rest_due(
        system, api, operator, hall, page, steps):
    """My booking's page: Move, a new day and time, and the booking follows with its price."""
    wednesday = next_wednesday()
    saturday = wednesday + timedelta(days=3)
    created = api.post("/api/bookings", json={
        "hall_id": hall["id"], "start": f"{wednesday}T10:00", "end": f"{wednesday}T12:00",
        "customer": {"name": "Вера", "phone": "+7 903 555-44-33"}})
    assert created.status_code == 201, created.text
    booking = created.json()
    operator.booking.confirm_at_desk(booking["id"])       # 4 800 ₽ paid at the desk

    steps.watch(page, "move")
    page.goto(f"{system.base_url}/b/{booking['id']}#t={booking['access_token']}")
    expect(page.locator("#status")).to_have_text("Подтверждена")
    page.click("#move")
    expect(page.locator("#move-form")).to_contain_text("цена пересчитается")
    page.fill("#move-date", saturday.isoformat())
    page.fill("#move-start", "10:00")
    page.fill("#move-end", "12:00")
    steps.shot("move-form")
    page.click("#move-yes")
    expect(page.locator("#note-moved")).to_contain_text("Бронь перенесена на")
    expect(page.locator("#note-moved")).to_contain_text("10:00–12:00")
    expect(page.locator("#due")).to_have_text(amount("2 400 ₽"))
    expect(page.locator("#pay-rest")).to_have_text(amount("Оплатить остаток 2 400 ₽"))
    steps.shot("moved")
    after = api.get(f"/api/bookings/{booking['id']}", admin=True).json()
    assert after["start"] == f"{saturday}T10:00:00+03:00" and after["price_total"] == 720000

    # a time the rules refuse: the API's words, and the booking stays where it is
    page.click("#move")
    page.fill("#move-start", "21:00")
    page.fill("#move-end", "23:00")
    page.click("#move-yes")
    expect(page.locator(".problem")).to_contain_text("closes")
    assert api.get(f"/api/bookings/{booking['id']}", admin=True).json()["start"] == after["start"]
    assert steps.console_errors(expected=["status of 422"]) == []

"""The operators' dashboard in headless Chromium (Debian's, never a downloaded one): sign in,
the day's schedule, a booking paid in another browser turning confirmed without a reload,
the booking card's cancellation and its refund. A failed test leaves a screenshot in
$ADMIN_SCREENSHOTS (default: the system's temp dir)."""
import os
import re
import tempfile
import uuid
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from tests.amqp import rpc_client
from tests.conftest import ADMIN_TOKEN
from tests.integration.integration_flow import make_hall, plant_dead_event

PASSWORD = "the desk's long password"
SCREENSHOTS = os.environ.get("ADMIN_SCREENSHOTS", tempfile.gettempdir())
DAY = (date.today() + timedelta(days=16)).isoformat()


@pytest.fixture(scope="module")
def rpc(system, config):
    with rpc_client(config["AMQP_URI"]) as rpc:
        yield rpc


@pytest.fixture(scope="module")
def hall(rpc):
    return make_hall(rpc)


@pytest.fixture
def chromium(browser):
    """pytest-playwright's browser: Debian's chromium (tests/browser/conftest.py)."""
    return browser


@pytest.fixture(scope="module")
def manager(api):
    name = f"desk-{uuid.uuid4().hex[:6]}"
    made = api.post("/api/admin/operators", admin=True,
                    json={"name": name, "password": PASSWORD, "role": "manager"})
    assert made.status_code == 201, made.text
    return name


@pytest.fixture
def dashboard(chromium, system, manager, request, steps):
    context = chromium.new_context(viewport={"width": 1280, "height": 800},
                                   base_url=system.base_url)
    page = steps.watch(context.new_page(), "desk")
    page.goto("/admin/")
    expect(page).to_have_url(system.base_url + "/admin/sign-in")
    page.fill("#name", manager)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#who")).to_contain_text(manager)
    expect(page.locator("#schedule-title")).to_be_visible()
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        path = os.path.join(SCREENSHOTS, f"admin-{request.node.name}.png")
        page.screenshot(path=path, full_page=True)
        print(f"screenshot: {path}")
    context.close()


def book(api, hall, start, end, name):
    answer = api.post("/api/bookings", json={
        "hall_id": hall["id"], "start": f"{DAY}T{start}", "end": f"{DAY}T{end}",
        "customer": {"name": name, "phone": "+7 916 000-11-22", "email": "c@example.com"}})
    assert answer.status_code == 201, answer.text
    return answer.json()


def pay_in_another_browser(chromium, system, api, booking):
    payment = api.post("/api/payments", token=booking["access_token"],
                       json={"booking_id": booking["id"], "kind": "prepayment",
                             "gateway": "mock"})
    assert payment.status_code == 201, payment.text
    customer = chromium.new_context()
    try:
        page = customer.new_page()
        page.goto(payment.json()["confirmation_url"])
        page.fill("#card", "4242424242424242")
        page.click("button[type=submit]")
    finally:
        customer.close()
    return payment.json()


def block(page, booking):
    return page.locator(f'.block[data-booking-id="{booking["id"]}"]')


def test_the_dashboard_speaks_both_languages_from_its_words_block_within_the_csp(
        dashboard, steps):
    """The words come in the shell as a JSON data block, which the policy lets be."""
    expect(dashboard.locator('#menu a[href="#day"]')).to_have_text("Расписание")
    expect(dashboard.locator("#sign-out")).to_have_text("Выйти")
    dashboard.click("#lang")
    expect(dashboard.locator("html")).to_have_attribute("lang", "en")
    expect(dashboard.locator('#menu a[href="#day"]')).to_have_text("Schedule")
    expect(dashboard.locator("#sign-out")).to_have_text("Sign out")
    expect(dashboard.locator("#lang")).to_have_text("RU")
    steps.shot("english")
    assert steps.console_errors() == []


def test_on_a_phone_every_menu_item_and_button_of_the_top_bar_can_be_reached(dashboard, steps):
    dashboard.set_viewport_size({"width": 375, "height": 800})
    for name in ("en", "ru"):
        dashboard.click("#lang")
        shown = [item for item in dashboard.locator("#menu a").all() if item.is_visible()]
        assert len(shown) >= 3                        # a manager's menu (no owner's items)
        for item in [*shown, dashboard.locator("#lang"), dashboard.locator("#sign-out")]:
            box = item.bounding_box()
            assert box and 0 <= box["x"] and box["x"] + box["width"] <= 375, \
                (name, item.inner_text(), box)
        assert dashboard.evaluate("document.documentElement.scrollWidth") <= 375
    steps.shot("phone")


def test_the_days_schedule_shows_a_booking_made_through_the_api(dashboard, api, hall):
    booking = book(api, hall, "10:00", "12:00", "Маша Schedule")
    dashboard.goto(f"/admin/#day={DAY}")
    shown = block(dashboard, booking)
    expect(shown).to_contain_text("Маша Schedule")
    expect(shown).to_have_attribute("data-status", "held")
    expect(dashboard.locator(".grid .head", has_text=hall["name"])).to_be_visible()
    dashboard.screenshot(path=os.path.join(SCREENSHOTS, "admin-day-1280.png"))


def test_a_booking_paid_elsewhere_turns_confirmed_on_the_schedule_without_reload(
        dashboard, chromium, system, api, hall):
    booking = book(api, hall, "13:00", "14:00", "Петя Live")
    dashboard.goto(f"/admin/#day={DAY}")
    expect(block(dashboard, booking)).to_have_attribute("data-status", "held")
    expect(dashboard.locator("#live")).to_have_class("live")
    dashboard.evaluate("window.__sameDocument = true")
    pay_in_another_browser(chromium, system, api, booking)
    expect(block(dashboard, booking)).to_have_attribute("data-status", "confirmed",
                                                        timeout=20000)
    assert dashboard.evaluate("window.__sameDocument") is True    # no reload happened


def test_the_card_cancels_a_paid_booking_and_shows_the_refund(dashboard, chromium, system,
                                                              api, hall):
    booking = book(api, hall, "16:00", "17:00", "Оля Cancel")
    payment = pay_in_another_browser(chromium, system, api, booking)
    dashboard.goto(f"/admin/#booking={booking['id']}")
    expect(dashboard.locator("#booking-status")).to_have_attribute("data-status", "confirmed",
                                                                   timeout=20000)
    dashboard.click("#cancel-booking")
    expect(dashboard.locator("#dialog")).to_contain_text(str(payment["amount"] // 100)[:1])
    dashboard.fill("#f-reason", "studio flooded")
    dashboard.click("#dialog-ok")
    expect(dashboard.locator("#booking-status")).to_have_attribute("data-status", "cancelled")
    expect(dashboard.locator("#booking-refund-due")).to_be_visible()
    refunds = dashboard.locator("#refunds")
    expect(refunds).to_contain_text("succeeded", timeout=20000)
    trail = api.get("/api/admin/audit", params={"booking_id": booking["id"]}, admin=True)
    [entry] = [e for e in trail.json()["items"] if e["action"] == "cancel_booking"]
    assert entry["details"] == {"reason": "studio flooded"} and entry["outcome"] == "ok"
    dashboard.screenshot(path=os.path.join(SCREENSHOTS, "admin-card-1280.png"), full_page=True)


def test_an_action_the_api_refuses_shows_its_reason_in_words(dashboard, api, hall):
    booking = book(api, hall, "19:00", "20:00", "Refused Desk")
    dashboard.goto(f"/admin/#booking={booking['id']}")
    dashboard.click("#confirm-desk")
    dashboard.fill("#f-amount", "999999")
    dashboard.click("#dialog-ok")
    expect(dashboard.locator("#dialog .error")).not_to_be_empty()
    expect(dashboard.locator("#booking-status")).to_have_attribute("data-status", "held")


def test_money_taken_at_the_desk_confirms_and_shows_among_the_payments(dashboard, api, hall):
    booking = book(api, hall, "17:00", "18:00", "Cash Desk")
    dashboard.goto(f"/admin/#booking={booking['id']}")
    dashboard.click("#confirm-desk")
    rubles = booking["price_total"] // 100
    dashboard.fill("#f-amount", str(rubles))
    dashboard.click("#dialog-ok")
    expect(dashboard.locator("#booking-status")).to_have_attribute("data-status", "paid")
    row = dashboard.locator("#payments tr", has_text="Оплата на месте")
    # ru-RU groups thousands with a (narrow) no-break space
    expect(row).to_contain_text(re.compile(rf"{rubles // 1000}\s{rubles % 1000:03d}\s₽"))
    expect(row).to_contain_text("На кассе")
    [desk] = api.get(f"/api/bookings/{booking['id']}", admin=True).json()["desk_payments"]
    assert desk["amount"] == rubles * 100


def test_the_card_moves_a_booking_to_another_hall_keeping_its_price(dashboard, api, rpc):
    other = make_hall(rpc, hourly_price=480000)
    booking = book(api, make_hall(rpc), "10:00", "11:00", "Лена Move")
    dashboard.goto(f"/admin/#booking={booking['id']}")
    dashboard.click("#move-booking")
    dashboard.select_option("#f-hall_id", str(other["id"]))
    dashboard.fill("#f-start", "13:00")
    dashboard.fill("#f-end", "14:00")
    dashboard.select_option("#f-keep_price", "true")
    dashboard.fill("#f-reason", "the first hall is being painted")
    dashboard.click("#dialog-ok")
    expect(dashboard.locator("#notice")).to_contain_text("13:00–14:00")
    # the card is drawn again (at once, and on the live event): what the action answered stays
    expect(dashboard.locator(".facts")).to_contain_text("13:00–14:00")
    expect(dashboard.locator("#notice")).to_contain_text("13:00–14:00")
    moved = api.get(f"/api/bookings/{booking['id']}", admin=True).json()
    assert (moved["hall_id"], moved["start"]) == (other["id"], f"{DAY}T13:00:00+03:00")
    assert moved["price_total"] == booking["price_total"]          # kept, not 4 800 ₽
    trail = api.get("/api/admin/audit", params={"booking_id": booking["id"]}, admin=True)
    [entry] = [e for e in trail.json()["items"] if e["action"] == "reschedule_booking"]
    assert entry["details"]["reason"] == "the first hall is being painted"
    assert entry["operator"].startswith("desk-") and entry["outcome"] == "ok"


def test_an_operator_closes_a_halls_time_and_customers_no_longer_see_it(dashboard, api,
                                                                         rpc):
    own = make_hall(rpc)
    booking = book(api, own, "15:00", "16:00", "Ира Closure")
    dashboard.goto(f"/admin/#day={DAY}")
    column = dashboard.locator(f'[data-column="{own["id"]}"]')
    expect(column).to_be_visible()                  # the day drawn with the new hall
    dashboard.click("#close-time")
    dashboard.select_option("#f-hall_id", str(own["id"]))
    dashboard.fill("#f-from_time", "12:00")
    dashboard.fill("#f-to_time", "14:00")
    dashboard.fill("#f-reason", "ремонт света")
    dashboard.click("#dialog-ok")
    expect(column.locator(".block.closure")).to_contain_text("ремонт света")
    free = api.get("/api/bookings/availability", params={
        "hall_id": own["id"], "start_date": DAY, "end_date": DAY}).json()["days"][0]["slots"]
    starts = [slot["start"][11:16] for slot in free]
    assert "12:00" not in starts and "13:45" not in starts and "14:00" in starts

    # over a booking: the dashboard names it first, and closes only when asked again
    dashboard.click("#close-time")
    dashboard.select_option("#f-hall_id", str(own["id"]))
    dashboard.fill("#f-from_time", "14:30")
    dashboard.fill("#f-to_time", "18:00")
    dashboard.fill("#f-reason", "своя съёмка")
    dashboard.click("#dialog-ok")
    expect(dashboard.locator("#dialog")).to_contain_text("Ира Closure")
    dashboard.click("#dialog-ok")
    expect(column.locator(".block.closure")).to_have_count(2)
    assert api.get(f"/api/bookings/{booking['id']}", admin=True).json()["status"] == \
        "pending_payment"                                          # it stays, to be moved

    column.locator(".block.closure .open-again").first.click()
    dashboard.click("#dialog-ok")
    expect(column.locator(".block.closure")).to_have_count(1)


def test_an_operator_shortens_a_day_before_a_holiday(dashboard, api, rpc):
    own = make_hall(rpc)
    late = book(api, own, "19:00", "20:00", "Поздний Клиент")
    day = DAY
    dashboard.goto(f"/admin/#day={day}")
    expect(dashboard.locator(f'[data-column="{own["id"]}"]')).to_be_visible()
    dashboard.click("#day-hours")
    dashboard.select_option("#f-hall_id", str(own["id"]))
    dashboard.fill("#f-opens", "10:00")
    dashboard.fill("#f-closes", "16:00")
    dashboard.fill("#f-note", "предпраздничный")
    dashboard.click("#dialog-ok")
    expect(dashboard.locator("#notice")).to_contain_text("Поздний Клиент")
    expect(dashboard.locator(f'.special-day[data-hall-id="{own["id"]}"]')).to_contain_text(
        "10:00–16:00")
    free = api.get("/api/bookings/availability", params={
        "hall_id": own["id"], "start_date": day, "end_date": day}).json()["days"][0]["slots"]
    assert free[-1]["start"][11:16] == "15:45"
    assert api.get(f"/api/bookings/{late['id']}", admin=True).json()["status"] == \
        "pending_payment"


@pytest.fixture
def owner_dashboard(chromium, system, request):
    context = chromium.new_context(viewport={"width": 1280, "height": 800},
                                   base_url=system.base_url)
    page = context.new_page()
    page.goto("/admin/sign-in")
    page.fill("#token", ADMIN_TOKEN)
    page.click("button[type=submit]")
    expect(page.locator("#who")).to_contain_text("owner")
    expect(page.locator("#schedule-title")).to_be_visible()
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        page.screenshot(path=os.path.join(SCREENSHOTS, f"admin-{request.node.name}.png"),
                        full_page=True)
    context.close()


def test_a_dead_event_is_retried_from_the_problems_page(owner_dashboard, databases):
    envelope = plant_dead_event(databases["integration"], "planted in the browser test")
    owner_dashboard.goto("/admin/#problems")
    expect(owner_dashboard.locator("#problems-badge")).to_be_visible()
    retry = owner_dashboard.locator(f'button.retry[data-event-id="{envelope["event_id"]}"]')
    expect(retry).to_be_visible()
    retry.click()
    expect(owner_dashboard.locator("#notice")).to_contain_text("done")
    expect(owner_dashboard.locator(f'[data-event-id="{envelope["event_id"]}"]')).to_have_count(0)


def test_the_reports_page_draws_takings_and_occupancy_and_offers_the_csv(owner_dashboard,
                                                                         api, hall):
    booking = book(api, hall, "20:00", "22:00", "Report Chart")
    assert api.post(f"/api/bookings/{booking['id']}/confirm", admin=True,
                    json={}).status_code == 200
    owner_dashboard.goto(f"/admin/#reports={DAY}/{DAY}")
    expect(owner_dashboard.locator("#takings-chart rect.bar-in")).to_have_count(1)
    heat = owner_dashboard.locator(f'svg[data-hall-id="{hall["id"]}"]')
    weekday = date.fromisoformat(DAY).weekday()
    expect(heat.locator(f'rect[data-cell="{weekday}:20"]')).to_have_attribute("data-percent",
                                                                             "100")
    with owner_dashboard.expect_download() as download:
        owner_dashboard.click("#csv")
    content = open(download.value.path(), encoding="utf-8").read()
    assert booking["id"] in content and "Report Chart" in content
    owner_dashboard.screenshot(path=os.path.join(SCREENSHOTS, "admin-reports-1280.png"),
                               full_page=True)


def test_a_booking_by_phone_is_made_from_a_free_slot_of_the_schedule(dashboard, api, hall):
    dashboard.goto(f"/admin/#day={DAY}")
    expect(dashboard.locator("#schedule-title")).to_have_attribute("data-day", DAY)
    column = dashboard.locator(f'.column[data-column="{hall["id"]}"]')
    column.locator(".row").nth(4 * 12 - 4 * 9).click()      # 12:00 on a grid from 09:00
    expect(dashboard.locator("#f-start")).to_have_value("12:00")
    dashboard.fill("#f-name", "Звонок Browser")
    dashboard.fill("#f-phone", "+7 916 777-66-55")
    dashboard.click("#dialog-ok")
    expect(dashboard.locator("#booking-status")).to_have_attribute("data-status", "held")
    expect(dashboard.locator(".facts")).to_contain_text("Звонок Browser")


def test_a_hall_made_with_a_weekend_tariff_is_previewed_and_offered_to_customers(
        owner_dashboard, chromium, system, api):
    name = f"Зал выходных {uuid.uuid4().hex[:6]}"
    owner_dashboard.goto("/admin/#halls=new")
    form = owner_dashboard.locator("#hall-form")
    form.locator("[name=name]").fill(name)
    form.locator("[name=price]").fill("2000")
    owner_dashboard.click("#add-rule")
    form.locator(".rule [name=price]").fill("3000")
    owner_dashboard.click("#preview-prices")
    saturday = owner_dashboard.locator('#price-preview .day[data-weekday="5"] .run')
    expect(saturday).to_have_attribute("data-price", "300000")
    expect(owner_dashboard.locator('#price-preview .day[data-weekday="0"] .run')
           ).to_have_attribute("data-price", "200000")
    owner_dashboard.screenshot(path=os.path.join(SCREENSHOTS, "admin-halls-1280.png"),
                               full_page=True)
    owner_dashboard.click("#save-hall")
    owner_dashboard.click("#dialog-ok")
    expect(owner_dashboard.locator("#hall-form h2").first).to_have_text(name)
    [hall] = [h for h in api.get("/api/halls").json() if h["name"] == name]
    assert hall["hourly_price"] == 200000
    assert hall["tariff_rules"] == [{"weekdays": [5, 6], "start": "09:00", "end": "22:00",
                                     "hourly_price": 300000}]
    customer = chromium.new_context(base_url=system.base_url)
    try:
        page = customer.new_page()
        page.goto("/")
        expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    finally:
        customer.close()

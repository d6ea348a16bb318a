"""The one iCalendar builder: what RFC 5545 clients (Google Calendar among them) need."""
import icalendar

from contracts.ical import CalendarSettings, booking_calendar, booking_event, calendar

SETTINGS = CalendarSettings(uid_domain="studio.test")
BOOKING = {
    "id": "5d1b7c2e-0000-4000-8000-000000000001", "hall_id": 1, "hall_name": "Белый зал",
    "start": "2026-12-10T10:00:00+03:00", "end": "2026-12-10T12:30:00+03:00",
    "status": "confirmed", "revision": 2, "updated_at": "2026-12-01T09:05:00+03:00",
    "customer": {"name": "Маша Иванова", "phone": "+7 916 000-00-00",
                 "email": "masha@example.com"},
}


def parsed_event(document):
    events = icalendar.Calendar.from_ical(document).walk("VEVENT")
    assert len(events) == 1
    return events[0]


def test_a_booking_parses_back_with_utc_times_uid_status_and_sequence():
    event = parsed_event(booking_calendar(BOOKING, SETTINGS))
    assert str(event["UID"]) == f"booking-{BOOKING['id']}@studio.test"
    assert event.decoded("DTSTART").isoformat() == "2026-12-10T07:00:00+00:00"
    assert event.decoded("DTEND").isoformat() == "2026-12-10T09:30:00+00:00"
    assert event.decoded("DTSTAMP").isoformat() == "2026-12-01T06:05:00+00:00"
    assert str(event["STATUS"]) == "CONFIRMED" and event["SEQUENCE"] == 2
    assert str(event["SUMMARY"]) == "Белый зал: booking"


def test_the_file_has_crlf_line_ends_and_folds_long_lines():
    long_hall = {**BOOKING, "hall_name": "Зал " + "с очень длинным названием " * 6}
    document = booking_calendar(long_hall, SETTINGS)
    lines = document.split(b"\r\n")
    assert b"\n" not in document.replace(b"\r\n", b"")
    assert all(len(line) <= 75 for line in lines)
    assert any(line.startswith(b" ") for line in lines)        # a folded continuation
    assert str(parsed_event(document)["SUMMARY"]) == f"{long_hall['hall_name']}: booking"
    assert document.startswith(b"BEGIN:VCALENDAR\r\n") and document.endswith(b"END:VCALENDAR\r\n")


def test_no_personal_data_unless_the_studio_turns_it_on():
    private = booking_calendar(BOOKING, SETTINGS)
    for personal in ("Маша", "+7 916", "masha@"):
        assert personal.encode() not in private
        assert personal not in icalendar.Calendar.from_ical(private).to_ical().decode()
    shown = parsed_event(booking_calendar(BOOKING, CalendarSettings(
        uid_domain="studio.test", summary_shows_customer=True)))
    assert str(shown["SUMMARY"]) == "Белый зал: Маша Иванова"


def test_a_change_keeps_the_uid_and_raises_the_sequence_and_a_cancellation_cancels():
    before = parsed_event(booking_calendar({**BOOKING, "status": "pending_payment",
                                            "revision": 0}, SETTINGS))
    after = parsed_event(booking_calendar({**BOOKING, "status": "cancelled", "revision": 3,
                                           "updated_at": "2026-12-02T10:00:00+03:00"},
                                          SETTINGS))
    assert str(before["STATUS"]) == "TENTATIVE" and str(after["STATUS"]) == "CANCELLED"
    assert before["UID"] == after["UID"] and after["SEQUENCE"] > before["SEQUENCE"]
    assert after.decoded("DTSTAMP") > before.decoded("DTSTAMP")


def test_an_event_payload_builds_the_same_event_stamped_by_the_event():
    payload = {k: v for k, v in BOOKING.items() if k not in ("id", "updated_at")}
    payload["booking_id"] = BOOKING["id"]
    from_event = booking_event(payload, SETTINGS, stamp="2026-12-01T09:05:00+03:00")
    assert from_event.to_ical() == booking_event(BOOKING, SETTINGS).to_ical()


def test_a_feed_holds_one_event_per_booking_and_its_name():
    second = {**BOOKING, "id": "5d1b7c2e-0000-4000-8000-000000000002"}
    document = calendar([booking_event(b, SETTINGS) for b in (BOOKING, second)], "Белый зал")
    parsed = icalendar.Calendar.from_ical(document)
    assert str(parsed["X-WR-CALNAME"]) == "Белый зал" and str(parsed["VERSION"]) == "2.0"
    assert len({str(e["UID"]) for e in parsed.walk("VEVENT")}) == 2

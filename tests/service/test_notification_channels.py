"""The delivery channels against a fake Telegram Bot API and a real SMTP server, both local."""
import email
import email.policy
import logging
import socket
import traceback

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from scripts.system import free_port
from services.notifications.channels import (
    DeliveryError,
    EmailChannel,
    LogChannel,
    PermanentDelivery,
    RetryableDelivery,
    TelegramChannel,
    backoff_seconds,
    build_channels,
)
from tests.fakes.telegram import FakeTelegram

BOT_TOKEN = "7654321:AAH-secret-bot-token_xyz"
SMTP_PASSWORD = "s3cret-smtp-pa55"
TEXT = "Бронь подтверждена: «Белый зал», 22.11.2026 в 18:30\n\nЗдравствуйте, Анна!\nЖдём вас."




def everything_said_about(exc):
    """The text of an error as logs and the notifications table would see it."""
    return str(exc) + repr(exc) + "".join(traceback.format_exception(exc))


# --- Telegram ---------------------------------------------------------------------------

@pytest.fixture
def telegram():
    with FakeTelegram(token=BOT_TOKEN) as fake:
        yield fake


@pytest.fixture
def telegram_channel(telegram):
    return TelegramChannel(telegram.url, BOT_TOKEN, timeout=5)


def test_telegram_message_reaches_the_chat(telegram, telegram_channel):
    message_id = telegram_channel.send("424242", TEXT)

    assert message_id == "1"
    assert telegram.messages == [{"token": BOT_TOKEN, "chat_id": "424242", "text": TEXT}]
    sent = telegram.requests[0]["body"]
    assert sent["disable_web_page_preview"] is True
    assert "parse_mode" not in sent  # plain text: a "_" or "*" in a name must not break it


def test_telegram_rate_limit_is_retryable_after_the_time_it_names(telegram, telegram_channel):
    telegram.fail_next(1, status=429, retry_after=3)

    with pytest.raises(RetryableDelivery) as refused:
        telegram_channel.send("424242", TEXT)

    assert refused.value.retry_after == 3
    assert telegram.messages == []
    assert telegram_channel.send("424242", TEXT) == "1"


def test_telegram_server_error_is_retryable(telegram, telegram_channel):
    telegram.fail_next(1, status=500)

    with pytest.raises(RetryableDelivery) as refused:
        telegram_channel.send("424242", TEXT)

    assert refused.value.retry_after is None
    assert "500" in str(refused.value)


def test_telegram_unknown_chat_is_permanent(telegram, telegram_channel):
    telegram.fail_next(1, status=400)

    with pytest.raises(PermanentDelivery) as refused:
        telegram_channel.send("999", TEXT)

    assert "chat not found" in str(refused.value)


def test_telegram_wrong_token_is_permanent_and_not_repeated(telegram):
    channel = TelegramChannel(telegram.url, "1111:wrong-token", timeout=5)

    with pytest.raises(PermanentDelivery) as refused:
        channel.send("424242", TEXT)

    assert "401" in str(refused.value) and "Unauthorized" in str(refused.value)
    assert "wrong-token" not in everything_said_about(refused.value)


def test_telegram_closed_port_is_retryable_and_does_not_leak_the_token():
    channel = TelegramChannel(f"http://127.0.0.1:{free_port()}", BOT_TOKEN, timeout=2)

    with pytest.raises(RetryableDelivery) as refused:
        channel.send("424242", TEXT)

    said = everything_said_about(refused.value)
    assert BOT_TOKEN not in said and "AAH-secret" not in said
    assert "<bot-token>" in str(refused.value)  # the URL is still there to debug with


def test_telegram_that_never_answers_times_out_as_retryable():
    # A listening socket that nobody accepts from: the connection opens, no answer comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        channel = TelegramChannel(f"http://127.0.0.1:{silent.getsockname()[1]}", BOT_TOKEN,
                                  timeout=0.5)
        with pytest.raises(RetryableDelivery) as refused:
            channel.send("424242", TEXT)

    assert BOT_TOKEN not in everything_said_about(refused.value)


@pytest.mark.parametrize("status, error", [
    (429, RetryableDelivery), (500, RetryableDelivery), (400, PermanentDelivery),
])
def test_telegram_errors_never_carry_the_token(telegram, telegram_channel, status, error):
    telegram.fail_next(1, status=status, description=f"echoing {BOT_TOKEN} back")

    with pytest.raises(error) as refused:
        telegram_channel.send("424242", TEXT)

    assert BOT_TOKEN not in everything_said_about(refused.value)


def test_telegram_channel_repr_hides_the_token(telegram_channel):
    assert BOT_TOKEN not in repr(telegram_channel)


# --- E-mail -----------------------------------------------------------------------------

class Mailbox:
    """An aiosmtpd handler that keeps what it receives and refuses the addresses it is told to."""

    def __init__(self):
        self.received = []
        self.replies_to_rcpt = {}   # address -> SMTP reply instead of "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.replies_to_rcpt.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append({
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "message": email.message_from_bytes(envelope.content, policy=email.policy.default),
        })
        return "250 Message accepted for delivery"


class Logins:
    """An aiosmtpd authenticator that knows one user."""

    def __init__(self, username, password):
        self.known = (username.encode(), password.encode())
        self.tried = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        self.tried.append(auth_data.login.decode())
        # handled=False: aiosmtpd itself answers 535 to a failed login (the default is silence).
        return AuthResult(success=(auth_data.login, auth_data.password) == self.known, handled=False)


@pytest.fixture
def mailbox():
    return Mailbox()


@pytest.fixture
def logins():
    return Logins("studio", SMTP_PASSWORD)


@pytest.fixture
def smtp_server(mailbox, logins):
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(),
                            authenticator=logins, auth_require_tls=False)
    controller.start()
    yield controller
    controller.stop()


def email_channel(server, username="studio", password=SMTP_PASSWORD, security="none"):
    return EmailChannel(host=server.hostname, port=server.port, security=security,
                        username=username, password=password,
                        sender="studio@example.com", timeout=5)


def test_email_reaches_the_customer_with_the_first_line_as_subject(smtp_server, mailbox, logins):
    message_id = email_channel(smtp_server).send("anna@example.com", TEXT)

    [received] = mailbox.received
    assert received["rcpt_tos"] == ["anna@example.com"]
    assert received["mail_from"] == "studio@example.com"
    message = received["message"]
    assert message["Subject"] == "Бронь подтверждена: «Белый зал», 22.11.2026 в 18:30"
    assert message["To"] == "anna@example.com"
    assert message["Message-ID"] == message_id
    assert message.get_content_charset() == "utf-8"
    assert message.get_content().strip() == "Здравствуйте, Анна!\nЖдём вас."
    assert logins.tried == ["studio"]


def test_email_without_username_is_sent_without_login(smtp_server, mailbox, logins):
    email_channel(smtp_server, username="", password="").send("anna@example.com", TEXT)

    assert len(mailbox.received) == 1 and logins.tried == []


def test_email_to_a_refused_recipient_is_permanent(smtp_server, mailbox):
    mailbox.replies_to_rcpt["nobody@example.com"] = "550 5.1.1 No such user here"

    with pytest.raises(PermanentDelivery) as refused:
        email_channel(smtp_server).send("nobody@example.com", TEXT)

    assert "550" in str(refused.value) and "nobody@example.com" in str(refused.value)
    assert mailbox.received == []


def test_email_greylisted_is_retryable(smtp_server, mailbox):
    mailbox.replies_to_rcpt["busy@example.com"] = "451 4.7.1 Greylisted, try again later"

    with pytest.raises(RetryableDelivery) as refused:
        email_channel(smtp_server).send("busy@example.com", TEXT)

    assert "451" in str(refused.value)


def test_email_with_a_wrong_password_is_permanent_and_does_not_leak_it(smtp_server, mailbox, logins):
    with pytest.raises(PermanentDelivery) as refused:
        email_channel(smtp_server, password="wrong-" + SMTP_PASSWORD).send("anna@example.com", TEXT)

    assert "535" in str(refused.value)
    assert logins.tried and set(logins.tried) == {"studio"}
    assert SMTP_PASSWORD not in everything_said_about(refused.value)
    assert mailbox.received == []


def test_email_to_a_closed_port_is_retryable():
    channel = EmailChannel(host="127.0.0.1", port=free_port(), security="none", username="studio",
                           password=SMTP_PASSWORD, sender="studio@example.com", timeout=2)

    with pytest.raises(RetryableDelivery) as refused:
        channel.send("anna@example.com", TEXT)

    assert SMTP_PASSWORD not in everything_said_about(refused.value)


def test_email_is_never_sent_in_clear_when_starttls_is_asked_for_and_not_offered(smtp_server, mailbox):
    with pytest.raises(DeliveryError):
        email_channel(smtp_server, security="starttls").send("anna@example.com", TEXT)

    assert mailbox.received == []


def test_email_to_an_address_with_a_line_break_is_permanent(smtp_server, mailbox):
    with pytest.raises(PermanentDelivery):
        email_channel(smtp_server).send("anna@example.com\nBcc: all@example.com", TEXT)

    assert mailbox.received == []


def test_email_channel_refuses_an_unknown_security_mode():
    with pytest.raises(ValueError):
        EmailChannel("smtp.example.com", 25, "tls-please", "", "", "studio@example.com")


def test_email_channel_repr_hides_the_password(smtp_server):
    assert SMTP_PASSWORD not in repr(email_channel(smtp_server))


# --- The log, the configuration, the wait between tries ----------------------------------

def test_log_channel_only_records(caplog):
    with caplog.at_level(logging.INFO, logger="services.notifications.channels"):
        assert LogChannel().send("424242", TEXT) is None

    assert "424242" in caplog.text and "Белый зал" in caplog.text


def test_the_log_standing_in_for_email_takes_its_calendar_file(caplog):
    with caplog.at_level(logging.INFO, logger="services.notifications.channels"):
        sent = LogChannel("email").send("anna@example.com", TEXT, calendar="BEGIN:VCALENDAR")
    assert sent is None
    assert "with a calendar file" in caplog.text


UNCONFIGURED = {
    "telegram": {"api_url": "https://api.telegram.org", "bot_token": ""},
    "email": {"host": "", "port": 587, "security": "starttls", "username": "", "password": "",
              "sender": "studio@example.com"},
}


def test_unconfigured_channels_fall_back_to_the_log():
    channels = build_channels(UNCONFIGURED)

    assert set(channels) == {"telegram", "email", "log"}
    assert all(isinstance(channel, LogChannel) for channel in channels.values())
    assert channels["telegram"].name == "telegram" and channels["email"].name == "email"


def test_channels_are_built_even_from_an_empty_or_env_nulled_section():
    # ${TELEGRAM_BOT_TOKEN:} comes out of the YAML as None, not "".
    for settings in (None, {}, {"telegram": {"bot_token": None}, "email": {"host": None}}):
        channels = build_channels(settings)
        assert set(channels) == {"telegram", "email", "log"}
        assert isinstance(channels["telegram"], LogChannel)
        assert isinstance(channels["email"], LogChannel)


def test_configured_channels_are_real():
    settings = {
        "telegram": {"api_url": "https://api.telegram.org/", "bot_token": BOT_TOKEN},
        "email": {**UNCONFIGURED["email"], "host": "smtp.example.com", "port": "465",
                  "security": "ssl", "username": "studio", "password": SMTP_PASSWORD},
    }

    channels = build_channels(settings)

    assert isinstance(channels["telegram"], TelegramChannel)
    assert channels["telegram"].api_url == "https://api.telegram.org"
    assert isinstance(channels["email"], EmailChannel)
    assert (channels["email"].port, channels["email"].security) == (465, "ssl")
    assert isinstance(channels["log"], LogChannel)


def test_configured_telegram_channel_delivers_through_the_fake(telegram):
    channels = build_channels({"telegram": {"api_url": telegram.url, "bot_token": BOT_TOKEN}})

    assert channels["telegram"].send("424242", TEXT) == "1"
    assert telegram.messages[0]["chat_id"] == "424242"


def test_backoff_doubles_from_the_base_up_to_the_cap():
    assert [backoff_seconds(attempt) for attempt in range(1, 8)] == [2, 4, 8, 16, 32, 64, 128]
    assert backoff_seconds(20) == 600
    assert backoff_seconds(10_000) == 600
    assert backoff_seconds(3, base=5, cap=30) == 20


def test_backoff_follows_the_providers_retry_after():
    assert backoff_seconds(6, retry_after=3) == 3
    assert backoff_seconds(1, retry_after=900) == 900  # asking sooner would only be refused again


def test_email_carries_a_calendar_file_as_an_attachment(smtp_server, mailbox):
    ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"
    email_channel(smtp_server).send("anna@example.com", TEXT, calendar=ics)

    [received] = mailbox.received
    message = received["message"]
    assert message.get_body(("plain",)).get_content().strip() == "Здравствуйте, Анна!\nЖдём вас."
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_filename() == "booking.ics"
    assert attachment.get_content().replace("\r\n", "\n") == ics.replace("\r\n", "\n")

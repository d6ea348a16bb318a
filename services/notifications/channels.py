"""The ways a notification leaves the studio: Telegram, e-mail, or only the log.

Every channel has one method, `send(recipient, text) -> provider message id or None` (the
e-mail channel, and the log standing in for it, also take `calendar=`: an .ics to attach), and
says how a failure should be treated: RetryableDelivery (try again later, maybe after the
provider's own retry_after) or PermanentDelivery (trying again cannot help). Error texts
end up in the notifications table and in logs, so they never carry the bot token or the
SMTP password.
"""
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import quote

import requests

logger = logging.getLogger(__name__)

SMTP_SECURITY_MODES = ("starttls", "ssl", "none")


class DeliveryError(Exception):
    """A notification could not be handed to its channel."""


class RetryableDelivery(DeliveryError):
    """The channel may accept it later: a timeout, a refused connection, a rate limit."""

    def __init__(self, message, retry_after=None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDelivery(DeliveryError):
    """The channel refused this message for good: an unknown chat, a rejected address."""


class TelegramChannel:
    name = "telegram"

    def __init__(self, api_url, bot_token, timeout=10):
        self.api_url = api_url.rstrip("/")
        self._bot_token = bot_token
        self.timeout = timeout

    def __repr__(self):
        return f"TelegramChannel({self.api_url!r})"  # never the token

    def send(self, recipient, text):
        # The Bot API puts the token in the URL, so any exception text may carry it.
        url = f"{self.api_url}/bot{self._bot_token}/sendMessage"
        body = {"chat_id": recipient, "text": text, "disable_web_page_preview": True}
        try:
            response = requests.post(url, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            # `from None`: the original exception, URL and all, must not reach a traceback.
            raise RetryableDelivery(self._scrub(f"Telegram unreachable: {exc}")) from None

        answer = _json_or_empty(response)
        if response.status_code == 200 and answer.get("ok"):
            return str(answer["result"]["message_id"])

        description = self._scrub(answer.get("description") or response.reason or "no description")
        problem = f"Telegram answered {response.status_code}: {description}"
        if response.status_code == 429:
            retry_after = (answer.get("parameters") or {}).get("retry_after")
            if retry_after is None:
                retry_after = response.headers.get("Retry-After")
            raise RetryableDelivery(problem, retry_after=_seconds_or_none(retry_after))
        if response.status_code >= 500:
            raise RetryableDelivery(problem)
        raise PermanentDelivery(problem)

    def _scrub(self, text):
        for form in {self._bot_token, quote(self._bot_token, safe="")}:
            if form:
                text = text.replace(form, "<bot-token>")
        return text


class EmailChannel:
    name = "email"

    def __init__(self, host, port, security, username, password, sender, timeout=10):
        if security not in SMTP_SECURITY_MODES:
            raise ValueError(f"SMTP security must be one of {SMTP_SECURITY_MODES}, not {security!r}")
        if not sender:
            raise ValueError("an e-mail channel needs a sender address")
        self.host = host
        self.port = int(port)
        self.security = security
        self.username = username or ""
        self._password = password or ""
        self.sender = sender
        self.timeout = timeout

    def __repr__(self):
        return f"EmailChannel({self.host!r}, {self.port}, {self.security!r})"  # never the password

    def send(self, recipient, text, calendar=None):
        """Sends `text` with its first line as the subject, and `calendar` (iCalendar text)
        as an .ics attachment; returns the Message-ID."""
        message = self._message(recipient, text)
        if calendar:
            message.add_attachment(calendar.encode(), maintype="text", subtype="calendar",
                                   filename="booking.ics")
        try:
            with self._connect() as smtp:
                if self.username:
                    smtp.login(self.username, self._password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise self._failure(code, f"SMTP refused {recipient}: {code} {_text(reply)}") from None
        except smtplib.SMTPResponseException as exc:
            raise self._failure(exc.smtp_code, f"SMTP answered {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            # Disconnects, refused connections, timeouts, TLS trouble, no STARTTLS offered.
            raise RetryableDelivery(self._scrub(f"SMTP server unreachable: {exc!r}")) from None
        return message["Message-ID"]

    def _message(self, recipient, text):
        subject, _, body = text.partition("\n")
        message = EmailMessage()
        try:
            message["From"] = self.sender
            message["To"] = recipient
            message["Subject"] = subject.strip()
        except ValueError as exc:  # a line break or garbage in an address cannot be fixed by retrying
            raise PermanentDelivery(f"cannot address an e-mail to {recipient!r}: {exc}") from None
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        # base64 keeps Cyrillic intact through relays that only pass 7-bit text.
        message.set_content(body.strip() or subject, charset="utf-8", cte="base64")
        return message

    def _connect(self):
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                    context=ssl.create_default_context())
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            try:
                # Raises when the server does not offer STARTTLS: never fall back to clear text.
                smtp.starttls(context=ssl.create_default_context())
            except BaseException:
                smtp.close()
                raise
        return smtp

    def _failure(self, code, problem):
        problem = self._scrub(problem)
        if 400 <= code < 500:
            return RetryableDelivery(problem)
        return PermanentDelivery(problem)

    def _scrub(self, text):
        return text.replace(self._password, "<password>") if self._password else text


class LogChannel:
    """Writes what would have been sent to the log: the default when nothing is configured."""

    def __init__(self, name="log"):
        self.name = name

    def __repr__(self):
        return f"LogChannel({self.name!r})"

    def send(self, recipient, text, calendar=None):
        logger.info("notification via %s (logged, not sent) to %s%s:\n%s", self.name, recipient,
                    " with a calendar file" if calendar else "", text)
        return None


def build_channels(settings):
    """{"telegram", "email", "log"} -> channel, from the NOTIFICATIONS.channels config section.

    A channel without its essentials (no bot token, no SMTP host) is a LogChannel under the
    same name, so a development setup runs and shows its notifications in the log.
    """
    settings = settings or {}
    telegram = settings.get("telegram") or {}
    email = settings.get("email") or {}
    channels = {"log": LogChannel()}

    if telegram.get("bot_token"):
        channels["telegram"] = TelegramChannel(
            api_url=telegram.get("api_url") or "https://api.telegram.org",
            bot_token=telegram["bot_token"],
            timeout=telegram.get("timeout") or 10,
        )
    else:
        logger.warning("no Telegram bot token configured: Telegram notifications are only logged")
        channels["telegram"] = LogChannel("telegram")

    if email.get("host"):
        channels["email"] = EmailChannel(
            host=email["host"],
            port=email.get("port") or 587,
            security=email.get("security") or "starttls",
            username=email.get("username"),
            password=email.get("password"),
            sender=email.get("sender"),
            timeout=email.get("timeout") or 10,
        )
    else:
        logger.warning("no SMTP host configured: e-mail notifications are only logged")
        channels["email"] = LogChannel("email")

    return channels


def backoff_seconds(attempt, retry_after=None, base=2, cap=600):
    """How long to wait after failed try number `attempt` (1, 2, ...): base, 2·base, 4·base ... cap.

    A provider's own retry_after wins, even above the cap: trying earlier is only refused again.
    """
    if retry_after is not None:
        return float(max(retry_after, 0))
    doublings = min(max(attempt, 1) - 1, 32)  # enough to pass any sane cap, small enough to compute
    return float(min(cap, base * 2 ** doublings))


def _json_or_empty(response):
    # A proxy in front of the Bot API may answer 502 with an HTML page.
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _seconds_or_none(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _text(reply):
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)

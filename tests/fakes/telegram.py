"""A local stand-in for the Telegram Bot API's sendMessage, on 127.0.0.1.

It checks what the real API checks before accepting a message (the bot token, a chat id,
a non-empty text of at most 4096 characters) and answers in the real API's shape. A test
scripts failures with `fail_next`, and reads what was delivered from `messages`.

    with FakeTelegram(token="123:abc") as telegram:
        telegram.fail_next(1, status=429, retry_after=3)
        ...  # TelegramChannel(telegram.url, "123:abc")
        assert telegram.messages == [{"token": ..., "chat_id": ..., "text": ...}]
"""
import collections
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SEND_MESSAGE_PATH = re.compile(r"^/bot(?P<token>[^/]+)/sendMessage$")
MAX_TEXT_LENGTH = 4096

# What the real API says for each scripted failure status.
DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    403: "Forbidden: bot was blocked by the user",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class FakeTelegram:
    def __init__(self, token="123456:TEST-fake-bot-token"):
        self.token = token
        self.messages = []      # delivered: {"token", "chat_id", "text"}
        self.requests = []      # every sendMessage call, delivered or not: {"token", "body"}
        self._failures = collections.deque()
        self._next_message_id = 1
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail_next(self, n=1, status=429, retry_after=3, description=None):
        """The next `n` well-formed sendMessage calls fail with `status` instead of delivering."""
        text = (description or DESCRIPTIONS.get(status, "Error")).format(retry_after=retry_after)
        answer = {"ok": False, "error_code": status, "description": text}
        if status == 429:
            answer["parameters"] = {"retry_after": retry_after}
        with self._lock:
            self._failures.extend([(status, answer)] * n)

    def start(self):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # A short poll interval keeps stop() quick: shutdown waits for the next poll.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="fake-telegram", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def answer(self, path, raw_body):
        """(status, JSON answer) for one POST, the way the Bot API would decide it."""
        match = SEND_MESSAGE_PATH.match(path)
        if not match:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        token = match["token"]
        if token != self.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        try:
            body = json.loads(raw_body or b"{}")
        except ValueError:
            return 400, _bad_request("can't parse JSON body")

        with self._lock:
            self.requests.append({"token": token, "body": body})
            if not body.get("chat_id"):
                return 400, _bad_request("chat_id is empty")
            text = body.get("text") or ""
            if not text.strip():
                return 400, _bad_request("message text is empty")
            if len(text) > MAX_TEXT_LENGTH:
                return 400, _bad_request("message is too long")
            if self._failures:
                return self._failures.popleft()

            message_id = self._next_message_id
            self._next_message_id += 1
            self.messages.append({"token": token, "chat_id": body["chat_id"], "text": text})
        return 200, {"ok": True, "result": {
            "message_id": message_id,
            "chat": {"id": body["chat_id"], "type": "private"},
            "text": text,
        }}

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                status, answer = fake.answer(self.path, self.rfile.read(length))
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if status == 429:
                    self.send_header("Retry-After", str(answer["parameters"]["retry_after"]))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass  # keep test output clean

        return Handler


def _bad_request(reason):
    return {"ok": False, "error_code": 400, "description": f"Bad Request: {reason}"}

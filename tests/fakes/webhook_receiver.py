"""A local receiver of the studio's outbound webhooks (a CRM's endpoint), on 127.0.0.1.

It verifies every request with the Standard Webhooks package's own algorithm against the
secrets it is given, answers as scripted (`answer_next(500, 503)`; then 200), and keeps every
request: {"path", "headers", "body", "verified_with"}.
"""
import collections
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


class WebhookReceiver:
    def __init__(self):
        self.secrets = []
        self.requests = []
        self._answers = collections.deque()
        self._lock = threading.Lock()
        self._server = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer_next(self, *answers):
        """Each answer: a status, or (status, body, headers)."""
        with self._lock:
            self._answers.extend(a if isinstance(a, tuple) else (a, b"", {}) for a in answers)

    def delivered(self):
        """The requests answered 2xx whose signature verified."""
        return [r for r in self.requests if r["verified_with"] and 200 <= r["status"] < 300]

    def verify(self, body, headers):
        """Which of the known secrets verify this request (the specification's algorithm)."""
        ok = []
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers, json_parse=False)
                ok.append(secret)
            except WebhookVerificationError:
                pass
        return ok

    def __enter__(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    status, answer, extra = (receiver._answers.popleft() if receiver._answers
                                             else (200, b"ok", {}))
                    receiver.requests.append({
                        "path": self.path, "headers": headers, "body": body.decode(),
                        "status": status, "verified_with": receiver.verify(body, headers)})
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

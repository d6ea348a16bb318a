"""A test-side Server-Sent Events client: reads one stream in a thread, hands out its events."""
import json
import queue
import socket
import threading
import time

import requests


class SseClient:
    def __init__(self, url, headers=None, cookies=None, timeout=30):
        self.response = requests.get(url, headers=headers or {}, cookies=cookies, stream=True,
                                     timeout=(5, timeout))
        self.status_code = self.response.status_code
        self.messages = queue.Queue()
        if self.status_code == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        message = {}
        try:
            for line in self.response.iter_lines(chunk_size=1, decode_unicode=True):
                if line == "":
                    if message:
                        self.messages.put(message)
                    message = {}
                elif line.startswith(":"):
                    self.messages.put({"comment": line[1:].strip()})
                else:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "data":
                        message["data"] = json.loads(value)
                    else:
                        message[field] = value
        except Exception:   # closed by the test, or by the server
            pass
        self.messages.put(None)

    def next(self, timeout=10):
        """The next event or comment; None when the stream ended; raises when none came."""
        return self.messages.get(timeout=timeout)

    def wait_for(self, event, timeout=15):
        """Skip to the first message of type `event` (an SSE `event:` name, or 'comment')."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.next(max(0.01, deadline - time.monotonic()))
            if message is None:
                raise AssertionError(f"the stream ended before {event!r}")
            if message.get("event") == event or (event == "comment" and "comment" in message):
                return message

    def close(self):
        """Hang up, as a browser tab that is closed does."""
        try:   # wakes the reading thread, which a plain close() may not
            self.response.raw._fp.fp.raw._sock.shutdown(socket.SHUT_RDWR)
        except Exception:
            pass
        self.response.close()

"""service.db for an inbox runner in a service test: every unit of work is the test's one
session (the test sees every write, and rolls them all back at its end)."""
from contextlib import contextmanager


class OneSession:
    def __init__(self, session):
        self.session = session

    @contextmanager
    def get_session(self):
        yield self.session

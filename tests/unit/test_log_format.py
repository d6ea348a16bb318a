"""The log lines config.yaml makes: the correlation id in each, as text (make run) or as one JSON
object a line (LOG_FORMAT=json, the containers)."""
import io
import json
import logging.config

import pytest

from services.common import tracing
from services.common.config import load_config


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_a_log_line_carries_the_correlation_id(monkeypatch, log_format):
    monkeypatch.setenv("LOG_FORMAT", log_format)
    settings = load_config()["LOGGING"]
    stream = io.StringIO()
    settings["handlers"]["console"]["stream"] = stream
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logging.config.dictConfig(settings)
        with tracing.continuing("req-42"):
            logging.getLogger("services.booking").warning("hall %s closed", 7)
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
    line = stream.getvalue().strip().splitlines()[-1]
    if log_format == "json":
        record = json.loads(line)
        assert record["correlation_id"] == "req-42" and record["message"] == "hall 7 closed"
        assert record["level"] == "WARNING" and record["logger"] == "services.booking"
    else:
        assert "[req-42]: hall 7 closed" in line

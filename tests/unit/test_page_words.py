"""The pages' words (gateway/static/words/*.json): every word in both languages, and put in
each page's shell as a JSON data block that no markup in a word can break out of."""
import json
import re

import pytest

from gateway.admin_pages import render_dashboard
from gateway.pages import STATIC_DIR, page_words, render_page

PAGES = sorted(path.stem for path in (STATIC_DIR / "words").glob("*.json"))


def shape(value):
    """The keys of a table, nested, with the length of each list of words."""
    if isinstance(value, dict):
        return {key: shape(inner) for key, inner in value.items()}
    return len(value) if isinstance(value, list) else type(value).__name__


def test_both_pages_have_their_words():
    assert PAGES == ["admin", "page"]


@pytest.mark.parametrize("page", PAGES)
def test_every_word_is_there_in_russian_and_in_english(page):
    words = page_words(page)
    assert set(words) == {"ru", "en"}
    assert shape(words["ru"]) == shape(words["en"])


def data_block(html):
    [block] = re.findall(r'<script type="application/json" id="words">(.*?)</script>', html,
                         re.S)
    return block


@pytest.mark.parametrize("html", [
    render_page({"timezone": "Europe/Moscow", "payment_gateway": "mock", "studio_name": "",
                 "full_refund_hours": 24, "horizon_days": 180, "slot_minutes": 15},
                "choose").get_data(as_text=True),
    render_dashboard({"timezone": "Europe/Moscow", "slot_minutes": 15, "opens": "09:00",
                      "closes": "22:00", "manager_refund_limit": 500000},
                     "dashboard").get_data(as_text=True),
], ids=["page", "admin"])
def test_the_shell_carries_the_words_as_data_that_cannot_close_its_block(html):
    block = data_block(html)
    assert "<" not in block and ">" not in block          # escaped: no </script> inside
    words = json.loads(block)
    assert words["ru"]["brand"] and words["en"]["brand"]
    assert "Выйти" in block or "Фотостудия" in block      # Russian as it is, not \\u-escaped

"""The booking page as HTTP: the shell, its headers, static files and their caching."""
import re
import uuid

import pytest


@pytest.fixture(scope="module")
def home(api):
    return api.get("/")


def test_the_page_is_served_with_a_content_security_policy(home):
    assert home.status_code == 200 and home.headers["Content-Type"].startswith("text/html")
    policy = home.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy
    assert home.headers["Cache-Control"] == "no-cache"
    assert home.headers["Referrer-Policy"] == "no-referrer"
    assert '<html lang="ru">' in home.text
    assert "<script>" not in home.text and " style=" not in home.text   # nothing inline


def test_static_files_are_versioned_and_cached_for_a_year(api, home):
    url = re.search(r'src="(/static/page\.js\?v=[0-9a-f]+)"', home.text).group(1)
    script = api.get(url)
    assert script.status_code == 200
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert script.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    bare = api.get("/static/page.js")
    assert bare.headers["Cache-Control"] == "no-cache"
    again = api.get("/static/page.js", headers={"If-None-Match": bare.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("path", ["/static/missing.js", "/static/../config.yaml",
                                  "/static/%2e%2e/gateway/service.py", "/static/"])
def test_a_missing_static_file_is_404_not_500(api, path):
    assert api.get(path).status_code == 404


def test_my_booking_page_is_served_for_a_booking_id_only(api):
    booking_id = str(uuid.uuid4())
    page = api.get(f"/b/{booking_id}")
    assert page.status_code == 200 and f'data-booking-id="{booking_id}"' in page.text
    assert api.get("/b/not-a-booking").status_code == 404

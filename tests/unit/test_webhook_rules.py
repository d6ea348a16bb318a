"""Outbound webhooks without I/O: signatures per the Standard Webhooks specification (its
published test vector), URL and address rules, event patterns, the retry schedule."""
import ipaddress
import json
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.fernet import InvalidToken
from standardwebhooks import Webhook

from services.integration.webhook_rules import (
    AddressRefused,
    SecretBox,
    WebhookSettings,
    body_of,
    check_address,
    event_type_problem,
    failing_too_long,
    new_secret,
    next_try_delay,
    signed_headers,
    signing_secrets,
    url_problem,
    wants,
)

# The specification's test vector (libraries/*/tests of standard-webhooks/standard-webhooks).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIME = datetime.fromtimestamp(1614265330, tz=timezone.utc)
SPEC_PAYLOAD = '{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
DEV = WebhookSettings(http_allowed_hosts=frozenset({"127.0.0.1"}),
                      allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))


def test_the_signature_matches_the_specifications_test_vector():
    headers = signed_headers(SPEC_ID, SPEC_PAYLOAD, [SPEC_SECRET], SPEC_TIME)
    assert headers["webhook-signature"] == SPEC_SIGNATURE
    assert headers["webhook-id"] == SPEC_ID and headers["webhook-timestamp"] == "1614265330"


def test_during_a_rotation_both_secrets_sign_and_either_verifies():
    old, new = new_secret(), new_secret()
    now = datetime.now(timezone.utc)
    both = signing_secrets(new, old, now + timedelta(hours=1), now)
    assert both == [new, old] and signing_secrets(new, old, now - timedelta(seconds=1), now) \
        == [new]
    headers = signed_headers("evt-1", '{"a":1}', both, now)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify('{"a":1}', headers) == {"a": 1}


def test_a_new_secret_is_the_specifications_format():
    secret = new_secret()
    assert secret.startswith("whsec_") and secret != new_secret()
    Webhook(secret)  # decodes


@pytest.mark.parametrize("url, problem", [
    ("https://crm.example.com/hooks", None),
    ("http://127.0.0.1:9000/hooks", None),
    ("http://crm.example.com/hooks", "must be https://"),
    ("ftp://crm.example.com/", "must be an https:// URL"),
    ("https://user:pw@crm.example.com/", "must not carry credentials"),
    ("https://10.0.0.1/hooks", "private"),
    ("https://169.254.169.254/latest/meta-data", "metadata"),
    ("https://[::1]/hooks", "loopback"),
    ("https://192.168.1.10/", "private"),
])
def test_endpoint_urls(url, problem):
    found = url_problem(url, DEV)
    assert (found is None) if problem is None else (problem in found)


@pytest.mark.parametrize("address", ["10.0.0.1", "172.16.5.4", "192.168.0.1", "127.0.0.2",
                                     "169.254.169.254", "169.254.1.1", "0.0.0.0", "::1",
                                     "fe80::1", "fc00::1", "::ffff:10.0.0.1", "100.64.0.1",
                                     "224.0.0.1"])
def test_private_loopback_link_local_and_metadata_addresses_are_refused(address):
    with pytest.raises(AddressRefused):
        check_address(ipaddress.ip_address(address), DEV)


def test_the_allow_list_opens_its_networks_but_never_the_metadata_service():
    check_address(ipaddress.ip_address("127.0.0.1"), DEV)
    check_address(ipaddress.ip_address("93.184.216.34"), DEV)
    everything = WebhookSettings(allowed_networks=(ipaddress.ip_network("0.0.0.0/0"),))
    with pytest.raises(AddressRefused):
        check_address(ipaddress.ip_address("169.254.169.254"), everything)


def test_event_type_patterns():
    assert wants(["booking.*"], "booking.confirmed") and not wants(["booking.*"], "payment.failed")
    assert wants(["*"], "payment.failed") and wants(["payment.failed"], "payment.failed")
    assert event_type_problem("booking.*") is None and event_type_problem("*") is None
    assert event_type_problem("booking.") and event_type_problem("Booking.Confirmed")


def test_retries_spread_over_about_a_day_with_jitter():
    settings = WebhookSettings()
    low = sum(next_try_delay(n, settings, rng=lambda: 0.0) for n in range(1, 8))
    high = sum(next_try_delay(n, settings, rng=lambda: 1.0) for n in range(1, 8))
    assert timedelta(hours=18) < timedelta(seconds=low) < timedelta(hours=24) \
        < timedelta(seconds=high) < timedelta(hours=36)
    assert next_try_delay(1, settings, rng=lambda: 0.5) == 5
    assert next_try_delay(8, settings) is None and settings.max_attempts == 8


def test_an_endpoint_failing_for_days_is_given_up():
    now = datetime.now(timezone.utc)
    assert failing_too_long(now - timedelta(days=3), now, WebhookSettings())
    assert not failing_too_long(now - timedelta(days=2), now, WebhookSettings())
    assert not failing_too_long(None, now, WebhookSettings())


def test_the_customer_is_left_out_unless_the_endpoint_is_trusted_with_it():
    envelope = {"event_id": "e", "type": "booking.confirmed", "payload": {
        "booking_id": "b", "customer": {"name": "Анна", "phone": "+7999"}}}
    private = json.loads(body_of(envelope, include_personal_data=False))
    assert "customer" not in private["payload"] and private["payload"]["booking_id"] == "b"
    assert json.loads(body_of(envelope, True)) == envelope
    assert "Анна" in body_of(envelope, True)   # UTF-8, not \\u escapes


def test_a_sealed_secret_opens_with_its_key_and_shows_nothing_of_itself():
    box, secret = SecretBox(("key-one",)), new_secret()
    sealed = box.seal(secret)
    assert sealed.startswith("sealed:") and secret not in sealed
    assert secret.removeprefix("whsec_") not in sealed
    assert box.open(sealed) == secret
    assert box.seal(secret) != sealed    # a fresh nonce each time
    with pytest.raises(InvalidToken):
        SecretBox(("another-key",)).open(sealed)


def test_a_new_key_goes_first_and_the_old_one_still_opens_until_resealed():
    old, secret = SecretBox(("key-one",)), new_secret()
    sealed_before = old.seal(secret)
    rotated = SecretBox(("key-two", "key-one"))
    assert rotated.open(sealed_before) == secret
    resealed = rotated.reseal(sealed_before)
    assert SecretBox(("key-two",)).open(resealed) == secret
    with pytest.raises(InvalidToken):
        old.open(resealed)


def test_a_secret_stored_before_sealing_is_used_as_it_is_and_sealed_by_a_reseal():
    box, secret = SecretBox(("key-one",)), new_secret()
    assert box.open(secret) == secret and box.open(None) is None
    assert box.open(box.reseal(secret)) == secret and box.reseal(secret).startswith("sealed:")


def test_the_keys_come_from_config_the_first_sealing():
    settings = WebhookSettings.from_config({"WEBHOOKS": {"secret_keys": "new-key, old-key"}})
    assert settings.secret_box.keys == ("new-key", "old-key")
    assert WebhookSettings.from_config({}).secret_box.keys == ("dev-only-webhook-secret-key",)

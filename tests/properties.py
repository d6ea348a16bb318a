"""How many examples a property test draws: all of them under `make test` (and a plain
pytest), a fifth under `make test-unit` (PROPERTY_EXAMPLES=quick), which is there to answer in
seconds while one works. The properties are the same; the full suite looks harder."""
import os

from hypothesis import settings

QUICK = os.environ.get("PROPERTY_EXAMPLES") == "quick"


def property_settings(max_examples, **options):
    return settings(max_examples=max(20, max_examples // 5) if QUICK else max_examples,
                    deadline=None, **options)

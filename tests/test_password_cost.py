"""Password hashes at production cost by default; the cheap cost of the test suite is a setting.

The rest of the suite hashes at the cheap cost of ``tests/conftest.py``; these tests keep the real
one: without configuration a hash has RFC 9106's low-memory parameters, and hashes made at either
cost verify at the other (a login redoes the hash at the configured cost).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import extract_parameters
from argon2.profiles import RFC_9106_LOW_MEMORY
from sqlalchemy.orm import Session

from kuchikomi.services.accounts import check_password, create_user, hash_password
from kuchikomi_settings import get_settings
from tests.conftest import CHEAP_PASSWORD_HASH

PASSWORD = "correct horse battery staple"


@pytest.fixture
def production_cost(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No password-hash configuration at all: the defaults, as in production."""
    for name in CHEAP_PASSWORD_HASH:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_default_cost_is_rfc_9106_low_memory(production_cost: None) -> None:
    cost = get_settings().password_hash
    assert (cost.time_cost, cost.memory_cost, cost.parallelism) == (3, 65536, 4)

    assert extract_parameters(hash_password(PASSWORD)) == RFC_9106_LOW_MEMORY


def test_hashes_verify_at_either_cost_and_a_login_rehashes_at_the_configured_one(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = create_user(session=session, email="a@example.jp", role="reviewer", password=PASSWORD)
    session.commit()
    cheap = extract_parameters(user.password_hash)
    assert (cheap.time_cost, cheap.memory_cost, cheap.parallelism) == (1, 8, 1)

    for name in CHEAP_PASSWORD_HASH:
        monkeypatch.delenv(name)
    get_settings.cache_clear()
    assert (
        check_password(session=session, email=user.email, password="wrong password!", ip="::1")
        is None
    )
    assert extract_parameters(user.password_hash) == cheap
    assert check_password(session=session, email=user.email, password=PASSWORD, ip="::1") is user
    assert extract_parameters(user.password_hash) == RFC_9106_LOW_MEMORY
    session.commit()

    for name, value in CHEAP_PASSWORD_HASH.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    assert check_password(session=session, email=user.email, password=PASSWORD, ip="::1") is user
    assert extract_parameters(user.password_hash) == cheap

"""Shared fixtures: a real database built by the migrations, on SQLite and PostgreSQL.

Every test that takes ``db_url`` (directly or through ``session``/``env``) runs once per backend.
PostgreSQL runs when ``KUCHIKOMI_TEST_POSTGRES_URL`` is set; each pytest process gets a database
of its own there, dropped at the end, so parallel runs do not meet.

Markers (registered in pyproject.toml) are set here from what a test uses, so that new tests get
them too: ``postgres`` on the PostgreSQL half, ``browser`` on tests/browser/, and ``slow`` on
every test that needs the trained classifier, crawls a local site or drives a browser (plus the
few marked by hand that start a server or a crawl process of their own).
``pytest -m "not slow"`` is the quick loop.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from classifier.training import TrainedModel
from kuchikomi_settings import get_settings
from models.base import Base
from models.db import get_engine, new_session, reset_engine
from models.migrate import upgrade

POSTGRES_ENV = "KUCHIKOMI_TEST_POSTGRES_URL"

# A test whose fixtures include one of these is slow: the classifier trained once per session
# (tens of seconds), a site crawled by a crawl subprocess, a uvicorn server and Chromium.
SLOW_FIXTURES = frozenset({"trained_model", "portal_url", "site", "live_server", "browser"})

# argon2id at the lowest cost it accepts: the production cost (about half a second per hash on a
# busy machine) would be paid at every login of every test. tests/test_password_cost.py checks
# the production defaults and that hashes made at one cost verify at the other.
CHEAP_PASSWORD_HASH = {
    "KUCHIKOMI_PASSWORD_HASH__TIME_COST": "1",
    "KUCHIKOMI_PASSWORD_HASH__MEMORY_COST": "8",
    "KUCHIKOMI_PASSWORD_HASH__PARALLELISM": "1",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("db_url") == "postgresql":
            item.add_marker(pytest.mark.postgres)
        if "browser" in fixtures:
            item.add_marker(pytest.mark.browser)
        if fixtures & SLOW_FIXTURES and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)


def _postgres_database(base_url: str) -> Iterator[str]:
    name = f"kuchikomi_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        reset_engine()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated, empty database; the migrations themselves are what build it."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "kuchikomi.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    for url in _postgres_database(base):
        upgrade(url)
        yield url


def settings_environ(db_url: str, data_dir: Path) -> dict[str, str]:
    """The environment of the ``env`` fixture; also given to the servers that tests start."""
    return {
        "KUCHIKOMI_DATABASE_URL": db_url,
        "KUCHIKOMI_DATA_DIR": str(data_dir),
        "KUCHIKOMI_ALLOW_PRIVATE_HOSTS": "true",
        "KUCHIKOMI_CRAWL__DOWNLOAD_DELAY": "0",
        "KUCHIKOMI_CRAWL__AUTOTHROTTLE": "false",
        **CHEAP_PASSWORD_HASH,
    }


@contextmanager
def use_test_settings(
    db_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """What ``env`` does, for a given data directory (tests/browser/ shares one with its server)."""
    for name, value in settings_environ(db_url, data_dir).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    _keep_engine_only_for(db_url)
    yield data_dir
    _keep_engine_only_for(db_url)
    _empty_tables()
    get_settings.cache_clear()


def _keep_engine_only_for(db_url: str) -> None:
    """Forget the process's engine unless it is on ``db_url``.

    The engine (its connection pool and SQL compilation cache) is kept from test to test on the
    same database; building them again for every test cost more than many a test.
    """
    if get_engine.cache_info().currsize:
        if get_engine().url.render_as_string(hide_password=False) == db_url:
            return
    reset_engine()


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings pointing at the test database and a fresh data directory; tables emptied afterwards.

    Password hashes are made at the cheap cost of :data:`CHEAP_PASSWORD_HASH`.

    Crawls run in a subprocess that commits, so tests clean up by deleting rows rather than by
    rolling back one transaction.
    """
    with use_test_settings(db_url, tmp_path / "var", monkeypatch) as data_dir:
        yield data_dir


def _empty_tables() -> None:
    with new_session() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
        session.commit()


@pytest.fixture
def session(env: Path) -> Iterator[Session]:
    with new_session() as s:
        yield s


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """One classifier trained from the shipped corpus per test run (training takes a while).

    Under pytest-xdist the first worker that needs it trains it into the run's shared temporary
    directory; the others wait on the lock and load that model file instead of training again.
    """
    from classifier.model import load_model
    from classifier.training import train

    if "PYTEST_XDIST_WORKER" not in os.environ:
        trained = train(directory=tmp_path_factory.mktemp("model"))
        assert trained.path is not None
        return trained
    shared = tmp_path_factory.getbasetemp().parent / "trained-model"
    shared.mkdir(exist_ok=True)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "path"
        if not done.is_file():
            trained = train(directory=shared)
            assert trained.path is not None
            done.write_text(str(trained.path), "utf-8")
            return trained
    path = Path(done.read_text("utf-8"))
    return TrainedModel(load_model(path), path)


@pytest.fixture
def model_env(
    env: Path, trained_model: TrainedModel, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """``env`` with the session's trained model configured for the CLI, pipeline and API."""
    monkeypatch.setenv("KUCHIKOMI_CLASSIFIER__MODEL_PATH", str(trained_model.path))
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()

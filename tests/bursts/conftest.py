"""A classifier model trained once from the shipped corpus (imports classify what they bring)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from classifier.training import train

    trained = train(directory=tmp_path_factory.mktemp("model"))
    assert trained.path is not None
    return trained.path


@pytest.fixture
def model_env(env: Path, trained_model: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from kuchikomi.settings import get_settings

    monkeypatch.setenv("KUCHIKOMI_CLASSIFIER__MODEL_PATH", str(trained_model))
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()

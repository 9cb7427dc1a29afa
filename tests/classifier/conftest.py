"""One model trained from the shipped corpus per test session (training takes a while), and the
settings pointing the CLI at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from classifier import Classifier
from classifier.training import TrainedModel


@pytest.fixture(scope="session")
def trained(trained_model: TrainedModel) -> TrainedModel:
    return trained_model


@pytest.fixture(scope="session")
def model(trained: TrainedModel) -> Classifier:
    return trained.classifier


@pytest.fixture
def model_path(
    trained: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The trained model configured for the CLI (and a data directory of the test's own)."""
    from kuchikomi_settings import get_settings

    assert trained.path is not None
    monkeypatch.setenv("KUCHIKOMI_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("KUCHIKOMI_CLASSIFIER__MODEL_PATH", str(trained.path))
    get_settings.cache_clear()
    yield trained.path
    get_settings.cache_clear()

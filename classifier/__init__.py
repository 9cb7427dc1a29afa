"""The classifier stage: review text in, label + category + probability + Japanese reasons out.

Knows text only (no database). ``load_model()`` returns a :class:`Classifier` whose
``classify(texts)`` yields :class:`ClassificationResult` objects shaped like the JSONL contract
of docs/contracts.md; ``classifier.training.train()`` fits and records a new model.
"""

from classifier.model import (
    ClassificationResult,
    Classifier,
    ModelInfo,
    ModelLoadError,
    ModelNotFoundError,
    active_model_path,
    load_model,
)

__all__ = [
    "ClassificationResult",
    "Classifier",
    "ModelInfo",
    "ModelLoadError",
    "ModelNotFoundError",
    "active_model_path",
    "load_model",
]

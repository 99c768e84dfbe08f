"""Classification without PyTorch: texts (characters, or words and punctuation) or numeric
series (raw values; the graph standardises them) to class probabilities, in batches of similar
lengths as ``SequenceClassifier.predict_proba`` reads them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rnnlab.portable.exported import Exported
from rnnlab.portable.text import WORD, Vocabulary, padded


class Classifier(Exported):
    """A sequence classifier of texts or series."""

    def __init__(self, path, threads=None) -> None:
        super().__init__(path, threads)
        self.labels = list(self.config["labels"])
        self.series = self.config.get("series")
        self.vocab = None if self.series else Vocabulary(self.config["vocab"])

    def encode(self, item, what: str) -> np.ndarray:
        if self.series is not None:
            values = np.asarray(item, dtype=np.float32)
            channels = len(self.series["channels"])
            if values.ndim != 2 or values.shape[1] != channels or len(values) == 0:
                raise ValueError(f"{what}: expected (steps, {channels}) values")
            if not np.isfinite(values).all():
                raise ValueError(f"{what} holds a missing or infinite value")
            return values
        level = self.vocab.level
        text = list(item) if level == "char" else [t for t in WORD.findall(item) if not t.isspace()]
        if not text:
            raise ValueError(f"{what} is empty; there is nothing to classify")
        return self.vocab.ids(text, what)

    def probabilities(self, items: Sequence, batch_size: int = 256) -> np.ndarray:
        """(N, K) class probabilities, in batches of similar length (as rnnlab batches)."""
        what = "series" if self.series is not None else "text"
        encoded = [self.encode(x, f"{what} {i + 1}") for i, x in enumerate(items)]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        name = "values" if self.series is not None else "ids"
        probs = np.empty((len(encoded), len(self.labels)), np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            inputs, lengths = padded([encoded[i] for i in rows])
            probs[rows] = self.run("classify", **{name: inputs, "lengths": lengths})[
                "probabilities"
            ]
        return probs

    def top_labels(self, items: Sequence, k: int = 1) -> list[list[tuple[str, float]]]:
        probs = self.probabilities(items)
        order = np.argsort(-probs, axis=1, kind="stable")[:, : min(k, len(self.labels))]
        return [
            [(self.labels[i], float(p[i])) for i in row]
            for p, row in zip(probs, order, strict=True)
        ]

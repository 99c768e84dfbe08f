"""Classification metrics from a confusion matrix.

With M[i, j] the number of examples of true class i predicted as class j:

    accuracy     = sum_i M[i, i] / sum M
    precision_j  = M[j, j] / sum_i M[i, j]        (0 when class j is never predicted)
    recall_i     = M[i, i] / sum_j M[i, j]        (0 when class i has no examples)
    F1_c         = 2 P_c R_c / (P_c + R_c)        (0 when both are 0)
    macro-F1     = mean of F1_c over the classes with examples or predictions
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClassificationReport:
    labels: tuple[str, ...]
    confusion: np.ndarray  # (C, C) int64, rows true, columns predicted

    @classmethod
    def of(cls, true: Sequence[int], predicted: Sequence[int], labels: Sequence[str]):
        """The report of class indices ``predicted`` against ``true``."""
        n = len(labels)
        matrix = np.zeros((n, n), dtype=np.int64)
        np.add.at(matrix, (np.asarray(true, dtype=np.int64), np.asarray(predicted, np.int64)), 1)
        return cls(tuple(labels), matrix)

    @property
    def total(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(self.total, 1))

    @property
    def support(self) -> np.ndarray:
        return self.confusion.sum(axis=1)

    @property
    def precision(self) -> np.ndarray:
        predicted = self.confusion.sum(axis=0)
        return np.diag(self.confusion) / np.maximum(predicted, 1)

    @property
    def recall(self) -> np.ndarray:
        return np.diag(self.confusion) / np.maximum(self.support, 1)

    @property
    def f1(self) -> np.ndarray:
        p, r = self.precision, self.recall
        return np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-300), 0.0)

    @property
    def macro_f1(self) -> float:
        present = (self.support > 0) | (self.confusion.sum(axis=0) > 0)
        return float(self.f1[present].mean()) if present.any() else 0.0

    def to_json(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "examples": self.total,
            "labels": list(self.labels),
            "confusion": self.confusion.tolist(),
            "per_class": {
                label: {
                    "precision": float(self.precision[i]),
                    "recall": float(self.recall[i]),
                    "f1": float(self.f1[i]),
                    "support": int(self.support[i]),
                }
                for i, label in enumerate(self.labels)
            },
        }

    def format_classes(self) -> str:
        """Per-class precision, recall, F1 and support as a Markdown table."""
        lines = [
            "| class | precision | recall | F1 | examples |",
            "| --- | --- | --- | --- | --- |",
        ]
        for i, label in enumerate(self.labels):
            lines.append(
                f"| {label} | {self.precision[i]:.3f} | {self.recall[i]:.3f} | "
                f"{self.f1[i]:.3f} | {self.support[i]} |"
            )
        lines.append(
            f"| **all** | | accuracy {self.accuracy:.4f} | macro {self.macro_f1:.4f} | "
            f"{self.total} |"
        )
        return "\n".join(lines)

    def format_confusion(self) -> str:
        """The confusion matrix as text: rows true, columns predicted (labels cut to 5)."""
        short = [label[:5] for label in self.labels]
        width = max(5, len(str(int(self.confusion.max(initial=0)))))
        first = max(len(label) for label in self.labels)
        head = " " * first + " | " + " ".join(s.rjust(width) for s in short)
        rows = [
            label.ljust(first) + " | " + " ".join(str(v).rjust(width) for v in row)
            for label, row in zip(self.labels, self.confusion.tolist(), strict=True)
        ]
        return "\n".join(["true \\ predicted", head, "-" * len(head), *rows])

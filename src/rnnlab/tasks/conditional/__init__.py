"""Generation from a label (one-to-many): a recurrent generator conditioned on a label's vector."""

from rnnlab.tasks.conditional.model import ConditionalGenerator
from rnnlab.tasks.conditional.training import (
    CONDITIONAL,
    ConditionalSettings,
    ConditionalTrainer,
    GenerationReport,
    LabelSampling,
    LabelSplit,
    generation_report,
)

__all__ = [
    "CONDITIONAL",
    "ConditionalGenerator",
    "ConditionalSettings",
    "ConditionalTrainer",
    "GenerationReport",
    "LabelSampling",
    "LabelSplit",
    "generation_report",
]

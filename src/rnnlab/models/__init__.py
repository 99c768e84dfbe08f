"""Task shapes built from the recurrent layers."""

from rnnlab.models.language import LanguageModel

__all__ = ["LanguageModel"]

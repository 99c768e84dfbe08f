"""From files and text to tensors: vocabularies, text reading, TBPTT streams."""

from rnnlab.data.streams import IGNORE, as_streams, chunk, chunk_count, chunks, detach_state
from rnnlab.data.text import DEFAULT_SOURCE, python_sources, read_source, read_text
from rnnlab.data.vocab import LEVELS, UNKNOWN, Vocabulary, tokenize_words

__all__ = [
    "DEFAULT_SOURCE",
    "IGNORE",
    "LEVELS",
    "UNKNOWN",
    "Vocabulary",
    "as_streams",
    "chunk",
    "chunk_count",
    "chunks",
    "detach_state",
    "python_sources",
    "read_source",
    "read_text",
    "tokenize_words",
]

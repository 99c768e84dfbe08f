"""Conversation modelling: dialogues as (context, reply) pairs, an encoder-decoder that reads
the conversation so far and writes a reply, MMI reranking, and the dialogue measures."""

from rnnlab.tasks.chat.dialogues import Conversation, Dialogues, builtin, read_dialogues
from rnnlab.tasks.chat.model import Chatbot, Decoding, Reply
from rnnlab.tasks.chat.training import (
    CHAT,
    ChatReport,
    ChatSettings,
    ChatTrainer,
    ReplySampling,
    chat_report,
    chat_split,
    evaluate_chatbot,
    read_dialogue_options,
)

__all__ = [
    "CHAT",
    "ChatReport",
    "ChatSettings",
    "ChatTrainer",
    "Chatbot",
    "Conversation",
    "Decoding",
    "Dialogues",
    "Reply",
    "ReplySampling",
    "builtin",
    "chat_report",
    "chat_split",
    "evaluate_chatbot",
    "read_dialogue_options",
    "read_dialogues",
]

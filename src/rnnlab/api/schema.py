"""What the API's requests and answers hold: one pydantic model each, with its limits.

The handlers validate every request body with these models (no coercion: a string is not a
number; no field the model does not declare; no NaN or infinity), answer with them, and
:mod:`rnnlab.api.openapi` writes the OpenAPI document from them, so the document cannot drift
from what the server checks. A limit is a bound in a field (``le=MAX_...``) and is stated in the
document with it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from rnnlab.limits import MAX_BEAM
from rnnlab.tasks.language.next_symbol import MAX_TOP  # next symbols or labels asked for

MAX_PRIME = 1_000  # characters of a prime, a text to read or score is longer: MAX_TEXT
MAX_TEXT = 10_000
MAX_GENERATE = 2_000  # symbols a generation asks for
MAX_SAMPLES = 16  # samples one generation request asks for
MAX_TEXTS = 64  # texts one classify or translate request sends
MAX_TURNS, MAX_TURN = 50, 2_000  # a conversation: turns, characters per turn
MAX_ROWS = 10_000  # rows of a forecast's history
MAX_SERIES_STEPS = 10_000  # steps of a series to classify
MAX_SEED = 2**63 - 1
MAX_TRANSLATE_BEAM = min(MAX_BEAM, 32)


def _integral(value):
    """A number with no fraction, e.g. 5.0, is an integer, as JSON Schema counts it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def integer(low: int, high: int):
    """An integer field in [low, high] (the bounds first: so the JSON Schema states them)."""
    return Annotated[int, Field(ge=low, le=high), BeforeValidator(_integral)]


ModelId = Annotated[str, Field(min_length=1, max_length=100, description="a served model's id")]
Text = Annotated[str, Field(max_length=MAX_TEXT)]


class Request(BaseModel):
    """A request body: a JSON object with only the declared fields, each of its type."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Error(Answer):
    """Every refusal: one line, and the field it is about when there is one."""

    error: str
    field: str | None = None


# -- language models ---------------------------------------------------------------------------


class Trace(Request):
    """Which state vector each generated symbol's event carries (the explorer's heatmap), as
    base64 of little-endian float32, the state after the model read the symbol."""

    layer: integer(0, 1_023)
    state: Annotated[str, Field(max_length=8, description="a name from the model's states")]


class GenerateRequest(Request):
    model: ModelId
    prime: Annotated[str, Field(max_length=MAX_PRIME)] = Field(
        "", description="text to continue; empty: the model's default (a newline)"
    )
    length: integer(1, MAX_GENERATE) = 200
    temperature: Annotated[float, Field(ge=1e-3, le=100.0)] = 1.0
    top_k: integer(1, 1_000_000) | None = None
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    greedy: bool = False
    seed: integer(0, MAX_SEED) | None = Field(
        None, description="sample k uses seed + k; the same seed gives the same text"
    )
    samples: integer(1, MAX_SAMPLES) = 1
    stream: bool = Field(
        False,
        description="answer as Server-Sent Events: `symbol` events {sample, text, symbols} as "
        "symbols are made (those of a sample that are ready together come as one event; with "
        "trace, one event per symbol, with its values), then an `end` event holding the "
        "GenerateAnswer, or an `error` event",
    )
    trace: Trace | None = None


class Sample(Answer):
    text: str
    symbols: int


class GenerateAnswer(Answer):
    model: str
    samples: list[Sample]


class NextRequest(Request):
    model: ModelId
    text: Text = Field("", description="what was typed so far")
    top: integer(1, MAX_TOP) = 5


class Candidate(Answer):
    symbol: str
    probability: float


class NextAnswer(Answer):
    model: str
    next: list[Candidate]


class ScoreRequest(Request):
    model: ModelId
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    context: Annotated[str, Field(max_length=MAX_PRIME)] | None = Field(
        None, description="read before the text, not scored; default: the model's default prime"
    )


class ScoreAnswer(Answer):
    model: str
    symbols: int
    log_prob: float = Field(description="natural log of the text's probability")
    nats_per_symbol: float


# -- classifiers, translators, chatbots --------------------------------------------------------


class ClassifyRequest(Request):
    model: ModelId
    texts: Annotated[list[Text], Field(min_length=1, max_length=MAX_TEXTS)] | None = None
    series: (
        Annotated[
            list[
                Annotated[
                    list[Annotated[list[float | None], Field(max_length=1_000)]],
                    Field(min_length=1, max_length=MAX_SERIES_STEPS),
                ]
            ],
            Field(min_length=1, max_length=MAX_TEXTS),
        ]
        | None
    ) = Field(
        None,
        description="for a classifier of series: each series' steps, a value per "
        "channel (null: missing)",
    )
    top: integer(1, MAX_TOP) = 1


class Label(Answer):
    label: str
    probability: float


class Classified(Answer):
    labels: list[Label]


class ClassifyAnswer(Answer):
    model: str
    results: list[Classified]


class TranslateRequest(Request):
    model: ModelId
    texts: Annotated[
        list[Annotated[str, Field(max_length=MAX_TURN)]], Field(min_length=1, max_length=MAX_TEXTS)
    ]
    beam: integer(1, MAX_TRANSLATE_BEAM) = 1
    alpha: Annotated[float, Field(ge=0.0, le=10.0)] = 1.0


class Translated(Answer):
    text: str
    log_prob: float


class TranslateAnswer(Answer):
    model: str
    translations: list[Translated]


class ChatRequest(Request):
    model: ModelId
    turns: Annotated[
        list[Annotated[str, Field(max_length=MAX_TURN)]], Field(min_length=1, max_length=MAX_TURNS)
    ] = Field(description="the conversation so far, oldest first; the reply answers the last")
    beam: integer(1, MAX_TRANSLATE_BEAM) = 5
    temperature: Annotated[float, Field(ge=0.01, le=100.0)] | None = Field(
        None, description="sample at this temperature; none: beam search"
    )
    diverse: Annotated[float, Field(ge=0.0, le=10.0)] = 0.0
    seed: integer(0, 2**31 - 1) = 0


class ChatAnswer(Answer):
    model: str
    reply: str
    log_prob: float
    score: float


class LabelRequest(Request):
    model: ModelId
    label: Annotated[str, Field(max_length=200)] | None = Field(
        None, description="a label the model was trained on (or give vector)"
    )
    vector: Annotated[list[float], Field(min_length=1, max_length=4_096)] | None = Field(
        None, description="a condition vector of the model's condition_size numbers"
    )
    count: integer(1, MAX_TEXTS) = 1
    prime: Annotated[str, Field(max_length=MAX_PRIME)] = ""
    temperature: Annotated[float, Field(ge=1e-3, le=100.0)] = 1.0
    seed: integer(0, MAX_SEED) | None = None
    max_length: integer(1, MAX_GENERATE) | None = None


class LabelAnswer(Answer):
    model: str
    texts: list[str]


# -- speech, forecasts -------------------------------------------------------------------------


class TranscribeQuery(BaseModel):
    """The query of ``/v1/transcribe`` (its body is the recording): text, so not strict."""

    model_config = ConfigDict(extra="forbid")

    model: ModelId
    beam: int = Field(1, ge=1, le=64, description="1: greedy; more: CTC prefix beam search")


class TranscribeAnswer(Answer):
    model: str
    text: str
    seconds: float


class ForecastRequest(Request):
    model: ModelId
    history: Annotated[
        list[Annotated[list[float | None], Field(min_length=1, max_length=1_000)]],
        Field(min_length=1, max_length=MAX_ROWS),
    ] = Field(
        description="the latest rows, oldest first: the targets' then the covariates' "
        "values (null: missing)"
    )
    samples: integer(1, 2_000) = 200
    seed: integer(0, 2**31 - 1) = 0


class ForecastAnswer(Answer):
    model: str
    targets: list[str]
    interval: float = Field(description="the intervals' nominal coverage")
    point: list[list[float]] = Field(description="per step ahead, a value per target")
    lower: list[list[float]]
    upper: list[list[float]]


# -- what is served ----------------------------------------------------------------------------


class ModelInfo(Answer):
    id: str
    kind: str = Field(description="language, classifier, translator, chatbot, speech or forecaster")
    name: str
    format: str
    parameters: int
    bytes: int = Field(description="size of the weights file")
    scores: dict[str, float] = Field(description="held-out scores recorded with the weights")
    endpoints: list[str]
    cell: str | None = None
    hidden: int | None = None
    layers: int | None = None
    level: str | None = None
    labels: list[str] | None = None
    channels: list[str] | None = None
    context: int | None = None
    generation: str | None = Field(
        None,
        description="the kernel of a language model's generation step once a generation has "
        "begun (inductor-fused: compiled; onednn-prepacked or linear: eager, also while the "
        "compiled one is being built); null before",
    )
    states: list[str] | None = None
    insight: bool | None = None
    targets: list[str] | None = None
    horizon: int | None = None
    window: int | None = None
    columns: list[str] | None = None
    condition_size: int | None = None


class ModelsAnswer(Answer):
    models: list[ModelInfo]

"""The API for programs, served by ``rnnlab serve`` beside the explorer page: JSON endpoints
under ``/v1/`` for every kind of model (:mod:`~rnnlab.api.app`), their request and answer
models (:mod:`~rnnlab.api.schema`), the OpenAPI document and reference page written from them
(:mod:`~rnnlab.api.openapi`), the served checkpoints (:mod:`~rnnlab.api.models`), generation
batched across clients (:mod:`~rnnlab.api.batcher`) and handed out as it comes
(:mod:`~rnnlab.api.streaming`), the turns and limits that bound the
work (:mod:`~rnnlab.api.turns`, :mod:`~rnnlab.api.limits`)."""

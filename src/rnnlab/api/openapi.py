"""The API's OpenAPI 3.1 document, written from the endpoints' request and answer models (the
ones the handlers validate with), and a readable reference page made from that document.

An :class:`Endpoint` says what a path takes and answers; :func:`document` turns the list of
them into the document served at ``/openapi.json``, and :func:`reference_page` into the HTML
of ``/docs`` (no script: the server's content policy allows none from elsewhere).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from rnnlab.api.schema import Error

REFUSALS = {
    "400": "the body is not JSON, or the request cannot be done for this model",
    "401": "no valid bearer token (when the server has one)",
    "404": "no such model is served",
    "413": "the body is over the size limit",
    "415": "the body is not of the media type the endpoint reads",
    "422": "a field is missing, unknown, of the wrong type or out of its bounds",
    "503": "the server is full (see Retry-After) or the request ran over its time",
}


#: one Server-Sent Event of a streamed answer (each event's data is one JSON object)
EVENT = {
    "type": "object",
    "properties": {
        "event": {"enum": ["symbol", "end", "error"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
    "required": ["event", "data"],
}


@dataclass(frozen=True)
class Endpoint:
    """``method /v1/name``: for models of ``kinds`` (empty: any), reading a JSON ``request``
    body (or ``query`` parameters and a ``body`` of another media type), answering ``answer``
    (or, when ``stream``, Server-Sent Events on request)."""

    name: str
    summary: str
    answer: type[BaseModel]
    request: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    body: str | None = None  # a media type other than JSON, e.g. audio/wav
    kinds: tuple[str, ...] = ()
    method: str = "post"
    stream: bool = False

    @property
    def path(self) -> str:
        return f"/v1/{self.name}"


def document(
    endpoints: list[Endpoint],
    title: str,
    version: str,
    bearer: bool,
    served: dict[str, list[str]] | None = None,
) -> dict:
    """The OpenAPI 3.1 document of ``endpoints``; ``bearer``: every path asks for a token;
    ``served``: the ids of the served models by kind, which each request's ``model`` must
    then be one of (``enum``)."""
    models = {Error}
    for e in endpoints:
        models |= {m for m in (e.request, e.answer) if m is not None}
    _, schemas = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    refusal = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    paths = {}
    for e in endpoints:
        answer_ref = {"$ref": f"#/components/schemas/{e.answer.__name__}"}
        answer = {"application/json": {"schema": answer_ref}}
        if e.stream:
            answer["text/event-stream"] = {"schema": EVENT}
        operation = {
            "operationId": e.name.replace("/", "_"),
            "summary": e.summary,
            "responses": {"200": {"description": "done", "content": answer}}
            | {code: {"description": why, "content": refusal} for code, why in REFUSALS.items()},
        }
        if e.kinds:
            operation["description"] = f"For models of kind: {', '.join(e.kinds)}."
        ids = [i for kind in e.kinds for i in (served or {}).get(kind, [])]
        if e.request is not None:
            ref = {"$ref": f"#/components/schemas/{e.request.__name__}"}
            if served is not None:
                fields = schemas["$defs"][e.request.__name__]["properties"]
                fields["model"] = fields["model"] | {"enum": ids}
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref}},
            }
        if e.query is not None:
            query = e.query.model_json_schema()
            if served is not None:
                query["properties"]["model"] |= {"enum": ids}
            operation["parameters"] = [
                {
                    "name": name,
                    "in": "query",
                    "required": name in query.get("required", []),
                    "schema": {k: v for k, v in schema.items() if k != "title"},
                }
                for name, schema in query["properties"].items()
            ]
        if e.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {e.body: {"schema": {"type": "string", "format": "binary"}}},
            }
        paths[e.path] = {e.method: operation}
    components: dict = {"schemas": schemas.get("$defs", {})}
    root = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": components,
    }
    if bearer:
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        root["security"] = [{"bearer": []}]
    return root


def reference_page(doc: dict) -> str:
    """The document as one HTML page: each path, its fields with types, defaults and bounds."""
    schemas = doc["components"]["schemas"]
    out = [
        "<!doctype html><meta charset=utf-8><title>rnnlab API</title>",
        f"<h1>{html.escape(doc['info']['title'])} {html.escape(doc['info']['version'])}</h1>",
        "<p>Every request and answer is JSON; every refusal is a 4xx or 503 answer "
        '<code>{"error": ..., "field": ...}</code>. The machine-readable description is '
        "<a href=/openapi.json>/openapi.json</a> (OpenAPI 3.1).</p>",
    ]
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            out.append(f"<h2><code>{method.upper()} {html.escape(path)}</code></h2>")
            about = f"{op['summary']} {op.get('description', '')}"
            out.append(f"<p>{html.escape(about)}</p>")
            body = op.get("requestBody", {}).get("content", {})
            if "application/json" in body:
                out += _fields(schemas, body["application/json"]["schema"], "Request", schemas)
            elif body:
                out.append(f"<p>Request body: <code>{html.escape(next(iter(body)))}</code></p>")
            if op.get("parameters"):
                rows = {p["name"]: p["schema"] for p in op["parameters"]}
                out += _table("Query", rows, {p["name"] for p in op["parameters"] if p["required"]})
            answer = op["responses"]["200"]["content"]["application/json"]["schema"]
            out += _fields(schemas, answer, "Answer", schemas)
            if "text/event-stream" in op["responses"]["200"]["content"]:
                out.append(
                    '<p>With <code>"stream": true</code> the answer is '
                    "<code>text/event-stream</code>.</p>"
                )
    return "\n".join(out)


def _fields(schemas: dict, ref: dict, title: str, every: dict) -> list[str]:
    schema = every[ref["$ref"].rsplit("/", 1)[1]]
    return _table(title, schema.get("properties", {}), set(schema.get("required", [])))


def _table(title: str, properties: dict, required: set[str]) -> list[str]:
    rows = [f"<h3>{title}</h3><table><tr><th>field<th>type and bounds<th>default<th>about"]
    for name, schema in properties.items():
        default = "required" if name in required else json.dumps(schema.get("default"))
        about = schema.get("description", "")
        rows.append(
            f"<tr><td><code>{html.escape(name)}</code><td><code>{html.escape(_type(schema))}"
            f"</code><td><code>{html.escape(default)}</code><td>{html.escape(about)}"
        )
    return [*rows, "</table>"]


def _type(schema: dict) -> str:
    """A schema in a few words: ``integer in [1, 2000]``, ``array of string``, ..."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[1]
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        kind = f"array of {_type(schema.get('items', {}))}"
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is not None or high is not None:
        kind += f" in [{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
    if "maxLength" in schema or "maxItems" in schema:
        kind += f", at most {schema.get('maxLength', schema.get('maxItems')):,}"
    return kind

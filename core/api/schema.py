"""The OpenAPI schema as a contract that generated clients use as they are.

drf-spectacular writes the schema; this module corrects what it leaves loose:

- `AutoSchema`: a response field that is always in the answer is `required` (a model field with
  a default is optional to send but always there to read), so clients do not type it maybe-unset.
- `add_standard_errors`: the error answers every operation can give whatever its view. Each view
  documents its own errors (a rule's 400, the 404 of an object the user may not see, a lost
  race's 409); the framework's answers are added here to every operation they apply to, so that
  the schema says everything the API can answer (the fuzzing test checks that it does): 401
  (with its `WWW-Authenticate: Token` challenge) and 403 on every operation that needs a login;
  400 for a bad query parameter or body; 404 for an id in the path or a page past the end
  (`?page=`); 415 for a body that is not JSON.
- `nullable_refs`: a nullable nested object is `oneOf: [the object, null]`. drf-spectacular
  writes `allOf: [$ref]` beside `nullable: true`, which OpenAPI 3.0.3 validators read as "the
  object, and not null" (nullable only adds null to a `type` in the same schema), so every
  answer carrying null failed validation.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.plumbing import force_instance
from rest_framework import serializers
from rest_framework.fields import empty

ERROR_REF = {"$ref": "#/components/schemas/Error"}
BAD_REQUEST_REF = {"$ref": "#/components/schemas/ValidationError"}
# The one schema that null alone satisfies in OpenAPI 3.0 (nullable adds null to the type; the
# enum leaves only null).
NULL_SCHEMA = {"type": "object", "nullable": True, "enum": [None]}
TOKEN_CHALLENGE = {
    "WWW-Authenticate": {
        "description": "`Token`: send `Authorization: Token <key>` (POST /api/auth/token/).",
        "schema": {"type": "string"},
    }
}

STANDARD = {
    "400": ("A bad query parameter or body; nothing was written.", BAD_REQUEST_REF),
    "401": ("Not authenticated: no credentials, or a token that is not valid.", ERROR_REF),
    "403": ("Authenticated, but the role may not do this.", ERROR_REF),
    "404": ("No such object (or not one you may see), or a page past the end.", ERROR_REF),
    "415": ("The body's content type is not accepted (send application/json).", ERROR_REF),
}


def always_in_response(serializer: Any, field: Any) -> bool:
    """Whether the serialised answer always carries this field. A model serializer reads every
    field from the instance (a model field with a default is optional in a request, never absent
    in an answer); elsewhere a field that is not required and has no default may be left out
    (e.g. an error's `field`, a bulk row's `id`)."""
    return bool(
        field.required
        or field.read_only
        or field.default is not empty
        or isinstance(serializer, serializers.ModelSerializer)
    )


class AutoSchema(openapi.AutoSchema):
    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_basic_serializer(serializer, direction)
        if direction != "response":
            return schema
        instance = force_instance(serializer)
        properties = schema.get("properties", {})
        required = list(schema.get("required", []))
        for name, field in instance.fields.items():
            if name in properties and name not in required and always_in_response(instance, field):
                required.append(name)
        if required:
            schema["required"] = required
        return schema


def _applicable(path: str, operation: dict[str, Any]) -> list[str]:
    codes = []
    params = operation.get("parameters") or []
    has_query = any(p.get("in") == "query" for p in params)
    has_body = "requestBody" in operation
    if has_query or has_body or "{" in path:
        codes.append("400")
    if operation.get("security"):
        codes += ["401", "403"]
    if "{" in path or any(p.get("name") == "page" for p in params):
        codes.append("404")
    if has_body:
        codes.append("415")
    return codes


def add_standard_errors(result: dict[str, Any], generator: Any, request: Any, public: Any) -> Any:
    for path, operations in (result.get("paths") or {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code in _applicable(path, operation):
                if code in responses:
                    continue
                description, schema = STANDARD[code]
                responses[code] = {
                    "description": description,
                    "content": {"application/json": {"schema": schema}},
                }
            if "401" in responses:
                responses["401"].setdefault("headers", {}).update(TOKEN_CHALLENGE)
    return result


def _nullable_ref(node: dict[str, Any]) -> dict[str, Any] | None:
    """`{allOf: [{$ref}], nullable: true, ...}` as `{oneOf: [{$ref}, null], ...}`."""
    all_of = node.get("allOf")
    if not (node.get("nullable") and isinstance(all_of, list) and len(all_of) == 1):
        return None
    if set(all_of[0]) != {"$ref"}:
        return None
    rewritten = {k: v for k, v in node.items() if k not in ("allOf", "nullable")}
    rewritten["oneOf"] = [all_of[0], dict(NULL_SCHEMA)]
    return rewritten


def _rewrite(node: Any) -> Any:
    if isinstance(node, list):
        return [_rewrite(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = _nullable_ref(node) or node
    return {key: _rewrite(value) for key, value in node.items()}


def nullable_refs(result: dict[str, Any], generator: Any, request: Any, public: Any) -> Any:
    return _rewrite(result)


def webhooks_as_extension(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """OpenAPI 3.0 has no `webhooks` section (3.1 does): the events the desk POSTs are listed
    under `x-webhooks`, the extension Redoc renders, so the document stays 3.0 for the
    validators and generators that read it."""
    if "webhooks" in result and str(result.get("openapi", "")).startswith("3.0"):
        result = dict(result)
        result["x-webhooks"] = result.pop("webhooks")
    return result

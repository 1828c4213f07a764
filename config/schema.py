"""drf-spectacular post-processing: the error answers every API operation can give.

Each view documents its own errors (a rule's 400, the 404 of an object the user may not see,
a lost race's 409). Some answers come from the framework whatever the view, and are added here
to every operation they apply to, so that the schema says everything the API can answer (the
fuzzing test checks that it does): 401/403 on every operation that needs a login; 400 for a bad
query parameter or body; 404 for an id in the path or a page past the end (`?page=`); 415 for a
body that is not JSON (or a form where accepted). All are the `Error` shape.
"""

from __future__ import annotations

from typing import Any

ERROR_REF = {"$ref": "#/components/schemas/Error"}
BAD_REQUEST_REF = {"$ref": "#/components/schemas/ValidationError"}

STANDARD = {
    "400": ("A bad query parameter or body; nothing was written.", BAD_REQUEST_REF),
    "401": ("Not authenticated.", ERROR_REF),
    "403": ("Authenticated, but the role may not do this.", ERROR_REF),
    "404": ("No such object (or not one you may see), or a page past the end.", ERROR_REF),
    "415": ("The body's content type is not accepted (send application/json).", ERROR_REF),
}


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
    return result


def _collapse(node: Any) -> Any:
    if isinstance(node, dict):
        one_of = node.get("oneOf")
        if (
            isinstance(one_of, list)
            and len(one_of) == 2
            and {} in one_of
            and {"type": "null"} in one_of
        ):
            rest = {k: v for k, v in node.items() if k != "oneOf"}
            return _collapse(rest)
        return {key: _collapse(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_collapse(item) for item in node]
    return node


def collapse_any_or_null(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """OpenAPI 3.1: a nullable field of any type comes out as `oneOf: [{}, {type: null}]`, which
    null matches twice (so no null is valid); any value, null included, is the empty schema."""
    return _collapse(result)

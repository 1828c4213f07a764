"""Query parameters read strictly: a bad value is a 400 naming the parameter, never ignored.

`query_bool` reads true/false flags; `OrderingFilter` is DRF's `?ordering=` with the view's
orderings as a documented enum.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, filters

TRUE_WORDS = frozenset({"true", "1"})
FALSE_WORDS = frozenset({"false", "0"})


def invalid_parameter(name: str, message: str) -> exceptions.ValidationError:
    """A bad query parameter: the 400 every invalid field gets, naming the parameter."""
    return exceptions.ValidationError({name: [message]})


def query_bool(params: Any, name: str) -> bool | None:
    """A boolean query parameter: true/false (or 1/0), absent or empty for None; anything
    else is a 400 naming it (never silently read as false)."""
    raw = (params.get(name) or "").strip().lower()
    if not raw:
        return None
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise invalid_parameter(name, "Give true or false.")


class OrderingFilter(filters.OrderingFilter):
    """DRF's `?ordering=`, strict and documented: the schema lists the view's orderings (each
    with its `-` descending variant) as an enum, and any other value is a 400 naming the
    parameter (DRF drops unknown terms silently). Several may be given, comma-separated."""

    def allowed(self, view: Any) -> list[str]:
        fields = getattr(view, "ordering_fields", None) or []
        return [term for name in fields for term in (name, f"-{name}")]

    def get_ordering(self, request: Any, queryset: Any, view: Any) -> Any:
        raw = (request.query_params.get(self.ordering_param) or "").strip()
        if raw:
            terms = [term.strip() for term in raw.split(",")]
            allowed = self.allowed(view)
            unknown = [term for term in terms if term not in allowed]
            if unknown:
                raise invalid_parameter(
                    self.ordering_param,
                    f"Unknown ordering {unknown[0]!r}; use one of: {', '.join(allowed)}."
                    if allowed
                    else "This list cannot be ordered.",
                )
        return super().get_ordering(request, queryset, view)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        allowed = self.allowed(view)
        if not allowed:
            return []
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": "Sort by this field (`-` first: descending); several may be "
                "given, comma-separated.",
                "schema": {"type": "string", "enum": allowed},
            }
        ]

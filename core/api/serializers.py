"""What every API serializer may share: model serializers that build their fields once."""

from __future__ import annotations

import copy
from typing import Any

from rest_framework import serializers

# No docstrings on the two classes below: the schema generator reads a serializer's description
# from the first docstring in its classes' order, so every serializer without one of its own
# would be described as these.


# A ModelSerializer whose fields are built from the model once per class, not on every instance
# (DRF rebuilds them from the model's meta each time: ~1-3 ms for a 30-field serializer on the
# hot paths). Each instance still gets its own copies, as DRF gives it copies of the declared
# fields, so binding a field to its parent stays per instance. Only for serializers whose fields
# do not depend on the instance, the context or the request (no get_fields override).
class BuiltOnceFieldsMixin:
    def get_fields(self) -> dict[str, Any]:
        cls = type(self)
        built = cls.__dict__.get("_fields_built_once")
        if built is None:
            built = super().get_fields()  # type: ignore[misc]
            cls._fields_built_once = built  # type: ignore[attr-defined]
        return {name: _fresh(field) for name, field in built.items()}


def _fresh(field: Any) -> Any:
    """A copy of a built field for one serializer instance. A plain field is copied shallowly:
    binding sets only attributes of its own (name, parent, label, source), and what it shares
    with the built one (its arguments, validators, choices, queryset) is read, never changed.
    A field holding other fields (a nested serializer, a list's child, a many-relation's child)
    is copied deeply, as DRF copies declared fields, since binding reaches into them."""
    if isinstance(field, serializers.BaseSerializer) or hasattr(field, "child_relation"):
        return copy.deepcopy(field)
    if getattr(field, "child", None) is not None:
        return copy.deepcopy(field)
    return copy.copy(field)


class BuiltOnceModelSerializer(BuiltOnceFieldsMixin, serializers.ModelSerializer):
    pass

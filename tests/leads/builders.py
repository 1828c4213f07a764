"""Request bodies for the leads tests."""

from __future__ import annotations

import json
from typing import Any


def lead_row(n: int, **extra: Any) -> dict[str, Any]:
    """A bulk row for a VP at a 201-500 software company in the US: 50 fit points under the
    default rules, so one recent demo request takes it over the threshold of 60."""
    return {
        "email": f"  Buyer{n}@Corp{n % 5}.example ",
        "first_name": "Bea",
        "last_name": f"Buyer {n}",
        "company": f"Corp {n % 5}",
        "industry": "software",
        "employee_band": "201-500",
        "seniority": "vp",
        "country": "US",
        "source": "paid_search",
        **extra,
    }


def body(rows: list[dict[str, Any]], key: str = "leads") -> str:
    return json.dumps({key: rows})

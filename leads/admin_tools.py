"""Admin pieces every app's admin uses: read-only records without a Save button, and JSON
snapshots shown as tables a manager can read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

MAX_ROWS = 50  # a snapshot list longer than this is cut, saying how many more there are


class ReadOnlyRecord:
    """A record changed only through the services (actions stay): its change page offers no
    Save buttons, only a way back. The admin shows Save whenever the user has the change
    permission, which the actions need."""

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete": False,
        }
        return super().change_view(request, object_id, form_url, context)  # type: ignore[misc]


def _label(key: Any) -> str:
    return str(key).replace("_", " ")


def _cell(value: Any, depth: int) -> SafeString | str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping | list | tuple):
        return json_table(value, depth=depth + 1)
    return str(value)


def json_table(value: Any, *, depth: int = 0) -> SafeString:
    """A snapshot as HTML tables: a mapping as label/value rows, a list of mappings as one row
    each with a column per key, other lists as items; nested values as nested tables. Every
    text is escaped."""
    if value in (None, "", {}, []):
        return mark_safe('<span class="quiet">none</span>')
    if depth > 4:
        return format_html("<code>{}</code>", str(value))
    if isinstance(value, Mapping):
        rows = format_html_join(
            "",
            '<tr><th scope="row">{}</th><td>{}</td></tr>',
            ((_label(k), _cell(v, depth)) for k, v in value.items()),
        )
        return format_html('<table class="snapshot"><tbody>{}</tbody></table>', rows)
    if isinstance(value, Sequence) and not isinstance(value, str):
        items = list(value)
        shown, more = items[:MAX_ROWS], len(items) - MAX_ROWS
        if all(isinstance(item, Mapping) for item in shown):
            columns: list[str] = []
            for item in shown:
                columns += [k for k in item if k not in columns]
            head = format_html_join("", "<th>{}</th>", ((_label(c),) for c in columns))
            body = format_html_join(
                "",
                "<tr>{}</tr>",
                (
                    (
                        format_html_join(
                            "", "<td>{}</td>", ((_cell(item.get(c), depth),) for c in columns)
                        ),
                    )
                    for item in shown
                ),
            )
            table = format_html(
                '<table class="snapshot"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
                head,
                body,
            )
        else:
            table = format_html(
                '<ul class="snapshot">{}</ul>',
                format_html_join("", "<li>{}</li>", ((_cell(item, depth),) for item in shown)),
            )
        if more > 0:
            return format_html('{}<p class="quiet">and {} more</p>', table, more)
        return table
    return format_html("{}", str(value))

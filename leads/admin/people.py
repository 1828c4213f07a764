"""A person's own settings (the time zone), set by managers here."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin

from core.errors import DomainError
from core.types import actor_of
from leads import services
from leads.models import UserProfile


class UserProfileForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        required=False,
        help_text="Empty: automatic (the team calendar's zone, else the site's).",
    )

    class Meta:
        model = UserProfile
        fields = ["user", "time_zone"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["time_zone"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "Automatic"), *((z, z) for z in sorted(available_timezones()))]


@admin.register(UserProfile)
class UserProfileAdmin(SimpleHistoryAdmin):
    """Managers set a person's time zone (people set their own on the settings page)."""

    form = UserProfileForm
    list_display = ["user", "time_zone", "updated_at"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    list_select_related = ["user"]

    def get_readonly_fields(self, request: Any, obj: Any = None) -> list[str]:
        return ["user"] if obj is not None else []

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        try:
            saved = services.user_time_zone_set(
                user=obj.user, time_zone=form.cleaned_data["time_zone"], actor=actor_of(request)
            )
        except DomainError as exc:
            raise PermissionDenied(exc.message) from exc
        obj.pk = saved.pk

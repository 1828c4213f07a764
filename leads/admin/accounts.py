"""Accounts: managers name them, give them an owner rep and merge duplicates."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from core import roles
from core.errors import DomainError
from core.types import actor_of
from leads import accounts
from leads.models import Account


class AccountAdminForm(forms.ModelForm):
    class Meta:
        model = Account
        fields = ["name", "owner"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner = self.fields.get("owner")
        if isinstance(owner, forms.ModelChoiceField) and owner.queryset is not None:
            owner.queryset = owner.queryset.filter(is_active=True, groups__name=roles.SALES)


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    """Accounts come from leads (matched by domain); managers name them, give them an owner rep
    and merge duplicates. Marketing reads them."""

    form = AccountAdminForm
    list_display = ["name", "domain", "owner", "lead_count", "merged_into", "created_at"]
    list_filter = [
        ("merged_into", admin.EmptyFieldListFilter),
        ("owner", admin.EmptyFieldListFilter),
    ]
    search_fields = ["domain", "name"]
    list_select_related = ["owner", "merged_into"]
    readonly_fields = ["domain", "merged_into", "created_at", "updated_at"]
    actions = ["merge_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        return super().get_queryset(request).annotate(lead_total=Count("leads"))

    @admin.display(description="Leads", ordering="lead_total")
    def lead_count(self, obj: Any) -> int:
        return int(obj.lead_total)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Account, form: Any, change: bool) -> None:
        if "owner" in form.changed_data:
            accounts.account_set_owner(account=obj, owner=obj.owner, actor=actor_of(request))
        if "name" in form.changed_data:
            Account.objects.filter(pk=obj.pk).update(name=obj.name, updated_at=timezone.now())

    @admin.action(
        description="Merge the selected accounts into the one with the most leads",
        permissions=["change"],
    )
    def merge_selected(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        chosen = sorted(
            queryset.filter(merged_into__isnull=True).annotate(n=Count("leads")),
            key=lambda a: (-a.n, a.created_at, a.pk),
        )
        if len(chosen) < 2:
            self.message_user(request, "Pick at least two accounts not merged yet.", messages.ERROR)
            return
        target, others = chosen[0], chosen[1:]
        try:
            moved = accounts.accounts_merge(
                target=target, duplicates=others, actor=actor_of(request)
            )
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(
            request,
            f"Merged {', '.join(a.domain for a in others)} into {target.domain}: {moved} lead(s) "
            "moved; those domains now match this account.",
            messages.SUCCESS,
        )

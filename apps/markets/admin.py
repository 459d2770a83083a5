from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from apps.core.models import AuditEvent
from apps.markets import services
from apps.markets.models import KILL_SWITCH, Market


class KillSwitchForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="Written to the audit log with your name.")  # fmt: skip


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin):
    change_list_template = "admin/markets/market/change_list.html"
    list_display = ("symbol", "status", "status_reason", "halted_until", "tick_size", "lot_size", "min_notional",
                    "maker_fee", "taker_fee", "updated_at")  # fmt: skip
    list_filter = ("status",)
    search_fields = ("symbol",)
    actions = ("halt", "resume")

    def get_readonly_fields(self, request, obj=None):
        # The engine works in integer ticks and lots of these steps: they cannot change under open orders.
        fixed = ("symbol", "base", "quote", "tick_size", "lot_size")
        return (
            (*fixed, "status", "status_reason", "halted_until") if obj else ("status", "status_reason", "halted_until")
        )

    def save_model(self, request, obj, form, change):
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data if name in services.EDITABLE_FIELDS}
            services.update_market(market=obj, changes=changes, actor=request.user)
            return
        created = services.create_market(
            base=obj.base_id, quote=obj.quote_id, tick_size=obj.tick_size, lot_size=obj.lot_size,
            min_notional=obj.min_notional, maker_fee=obj.maker_fee, taker_fee=obj.taker_fee, actor=request.user,
            **{name: getattr(obj, name) for name in services.LIMIT_FIELDS},
        )  # fmt: skip
        obj.pk = created.pk

    def get_changeform_initial_data(self, request):
        return {"symbol": ""}

    def get_fields(self, request, obj=None):
        fields = ["base", "quote", "tick_size", "lot_size", "min_notional", "maker_fee", "taker_fee",
                  "max_order_quantity", "max_order_notional", "price_band", "max_open_orders", "market_order_collar",
                  "breaker_move", "breaker_window_seconds", "breaker_cooldown_seconds", "status", "status_reason",
                  "halted_until"]  # fmt: skip
        return (["symbol"] if obj else []) + fields

    @admin.action(description="Halt trading (cancels still go through)")
    def halt(self, request, queryset):
        for market in queryset:
            services.set_status(market=market, status=Market.Status.HALTED, reason="halted by staff",
                                actor=request.user)  # fmt: skip
        messages.success(request, f"Halted {queryset.count()} market(s).")

    @admin.action(description="Resume trading")
    def resume(self, request, queryset):
        for market in queryset:
            services.set_status(market=market, status=Market.Status.TRADING, actor=request.user)
        messages.success(request, f"Resumed {queryset.count()} market(s).")

    # -- the kill switch ---------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view(self.kill_switch_view)
        return [path("kill-switch/", view, name="markets_market_kill_switch"), *super().get_urls()]

    def kill_switch_view(self, request):
        """Halt every market and withdrawals at once (or release what the switch halted), with a reason."""
        if not request.user.has_perm("markets.use_kill_switch"):
            raise PermissionDenied
        form = KillSwitchForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["reason"]
            if "release" in request.POST:
                done = services.release_kill_switch(reason=reason, actor=request.user)
                messages.success(request, f"Kill switch released: resumed {len(done['markets'])} market(s) and "
                                          f"withdrawals of {len(done['currencies'])} currency(ies).")  # fmt: skip
            else:
                done = services.engage_kill_switch(reason=reason, actor=request.user)
                messages.warning(request, f"Kill switch engaged: halted {len(done['markets'])} market(s) and "
                                          f"withdrawals of {len(done['currencies'])} currency(ies).")  # fmt: skip
            return HttpResponseRedirect(reverse("admin:markets_market_changelist"))
        context = {
            **self.admin_site.each_context(request), "title": "Kill switch", "form": form, "opts": self.model._meta,
            "engaged": Market.objects.filter(status=Market.Status.HALTED, status_reason=KILL_SWITCH).exists(),
            "history": AuditEvent.objects.filter(target_type="exchange", target_id=KILL_SWITCH)
            .select_related("actor").order_by("-created_at")[:20],
        }  # fmt: skip
        return TemplateResponse(request, "admin/markets/market/kill_switch.html", context)

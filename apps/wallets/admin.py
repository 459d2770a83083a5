from decimal import Decimal

from django import forms as django_forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme

from apps.core.admin import LargeTableAdmin, action_form_page
from apps.core.exceptions import DomainError
from apps.wallets import chain_faults, custody, deposits, halts, reconciliation, withdrawals
from apps.wallets.models import (
    Account,
    Currency,
    CustodyTransfer,
    Deposit,
    DepositAddress,
    Entry,
    Hold,
    ReconciliationRun,
    Transaction,
    Withdrawal,
    WithdrawalAddress,
)


class HaltWithdrawalsForm(django_forms.Form):
    reason = django_forms.CharField(max_length=200, help_text="Why; kept in the audit log and shown to users.")


class ChainFaultsForm(django_forms.Form):
    """The simulated chain's fault modes (apps.wallets.chain_faults): exactly these, replacing any."""

    refuse_sends = django_forms.BooleanField(
        required=False, help_text="Every new send is refused: withdrawals end failed, their hold released."
    )
    unreachable = django_forms.BooleanField(
        required=False, help_text="The node answers nothing: the API answers 503 and the circuit breaker opens."
    )
    drop_broadcasts = django_forms.BooleanField(
        required=False, help_text="Sends are accepted and never confirm: reconciliation reports them stuck."
    )
    delay_seconds = django_forms.FloatField(
        min_value=0, max_value=chain_faults.MAX_DELAY_SECONDS, initial=0,
        help_text="Every call answers this many seconds late (a slow node).",
    )  # fmt: skip
    reason = django_forms.CharField(
        max_length=chain_faults.REASON_MAX, required=False,
        help_text="Why (a drill, a test); kept in the audit log. Needed to set faults.",
    )  # fmt: skip


@admin.register(Currency)
class CurrencyAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "decimals", "confirmations", "withdrawal_fee", "min_withdrawal",
                    "auto_approve_limit", "hot_min", "hot_target", "hot_max", "is_active", "withdrawals_halted",
                    "withdrawals_halt_reason")  # fmt: skip
    list_editable = ("is_active",)
    list_filter = ("withdrawals_halted", "is_active")
    actions = ["halt_withdrawals", "resume_withdrawals", "set_chain_faults", "clear_chain_faults"]

    def get_readonly_fields(self, request, obj=None):
        # Decimals cannot change once amounts exist in that precision. The halt and the simulated
        # chain's faults change only through the actions below, which write the audit log.
        halt = ("withdrawals_halted", "withdrawals_halt_reason")
        return ("code", "decimals", *halt, "simulated_chain_faults") if obj else halt

    @admin.display(description="Simulated chain faults")
    def simulated_chain_faults(self, obj):
        faults = chain_faults.faults_for(obj.code)
        if not faults.active:
            return "none (set them with the action “Set simulated chain faults…” on the currencies list)"
        row = chain_faults.stored(obj.code)
        who = " — from the SIMCHAIN_FAULTS setting"
        if row is not None:
            at = f"{row.set_at:%Y-%m-%d %H:%M:%S}"
            who = format_html(" — set by {} at {} UTC: {}", row.set_by or "a command", at, row.reason)
        return format_html('<strong class="errornote">ACTIVE: {}</strong>{}', faults.describe(), who)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        faults = chain_faults.faults_for(object_id) if request.method == "GET" else None
        if faults is not None and faults.active:
            self.message_user(request, f"The simulated chain's faults are on for {object_id}: {faults.describe()}.",
                              messages.WARNING)  # fmt: skip
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Set simulated chain faults…", permissions=["change"])
    def set_chain_faults(self, request, queryset):
        form = ChainFaultsForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            data = form.cleaned_data
            faults = chain_faults.Faults(refuse_sends=data["refuse_sends"], unreachable=data["unreachable"],
                                         drop_broadcasts=data["drop_broadcasts"],
                                         delay_seconds=data["delay_seconds"] or 0)  # fmt: skip
            for currency in queryset:
                try:
                    chain_faults.set_faults(currency=currency.code, faults=faults, actor=request.user,
                                            reason=data["reason"])  # fmt: skip
                except DomainError as exc:
                    self.message_user(request, f"{currency.code}: refused — {exc.message}", messages.ERROR)
                else:
                    self.message_user(request, f"{currency.code}: simulated chain faults now {faults.describe()}.",
                                      messages.WARNING if faults.active else messages.SUCCESS)  # fmt: skip
            return None
        currencies = [(c, chain_faults.faults_for(c.code).describe()) for c in queryset]
        return action_form_page(self, request, template="admin/wallets/chain_faults.html",
                                title="Set simulated chain faults", action="set_chain_faults", form=form,
                                currencies=currencies)  # fmt: skip

    @admin.action(description="Clear simulated chain faults", permissions=["change"])
    def clear_chain_faults(self, request, queryset):
        cleared = []
        for currency in queryset:
            if chain_faults.stored(currency.code) is None:
                continue
            try:
                chain_faults.set_faults(currency=currency.code, faults=chain_faults.Faults(), actor=request.user,
                                        reason=f"cleared in the admin by {request.user}")  # fmt: skip
                cleared.append(currency.code)
            except DomainError as exc:
                self.message_user(request, f"{currency.code}: refused — {exc.message}", messages.ERROR)
        self.message_user(request, f"Simulated chain faults cleared: {', '.join(cleared) or 'none were set'}.",
                          messages.SUCCESS)  # fmt: skip
        from_settings = [c.code for c in queryset if chain_faults.faults_for(c.code).active]
        if from_settings:
            self.message_user(request, f"Still on from the SIMCHAIN_FAULTS setting: {', '.join(from_settings)}.",
                              messages.WARNING)  # fmt: skip

    @admin.action(description="Halt withdrawals…", permissions=["change"])
    def halt_withdrawals(self, request, queryset):
        form = HaltWithdrawalsForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            try:
                codes = halts.halt_withdrawals(currencies=[c.code for c in queryset],
                                               reason=form.cleaned_data["reason"], actor=request.user)  # fmt: skip
            except DomainError as exc:
                self.message_user(request, f"Refused — {exc.message}", messages.ERROR)
                return None
            untouched = sorted({c.code for c in queryset} - set(codes))
            self.message_user(request, f"Withdrawals halted: {', '.join(codes) or 'none'}.", messages.SUCCESS)
            if untouched:
                self.message_user(request, f"Already halted (reason kept): {', '.join(untouched)}.", messages.WARNING)
            return None
        return action_form_page(self, request, template="admin/wallets/halt_withdrawals.html",
                                title="Halt withdrawals", action="halt_withdrawals", form=form,
                                queryset=queryset)  # fmt: skip

    @admin.action(description="Resume withdrawals", permissions=["change"])
    def resume_withdrawals(self, request, queryset):
        codes = halts.resume_withdrawals(currencies=[c.code for c in queryset], actor=request.user,
                                         reason=f"resumed in the admin by {request.user}")  # fmt: skip
        self.message_user(request, f"Withdrawals resumed: {', '.join(codes) or 'none (none was halted)'}.",
                          messages.SUCCESS)  # fmt: skip


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger is written only by apps.wallets.ledger; the admin only shows it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Account)
class AccountAdmin(LargeTableAdmin, ReadOnlyAdmin):
    """One account per user and currency (millions with the users): no count, newest first. The
    filters are served by the system accounts' unique (kind, currency) index or match a large share
    of the rows (a user account, a currency), which the primary key's order reaches at once."""

    list_display = ("id", "kind", "user", "currency", "available", "locked")
    list_filter = ("kind", "currency")
    list_select_related = ("user", "currency")
    id_search_fields = ("id",)
    user_search_fields = ("user",)
    search_help_text = "An account's id, or a username (their accounts)."


class EntryInline(admin.TabularInline):
    model = Entry
    fields = ("account", "currency", "bucket", "amount")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Transaction)
class TransactionAdmin(LargeTableAdmin, ReadOnlyAdmin):
    """Newest first; found by id or by idempotency key (unique, so indexed). No filter by kind: no
    index leads on it, and the ledger is not indexed for the admin's sake (every posting pays)."""

    list_display = ("id", "created_at", "kind", "reference_type", "reference_id", "idempotency_key")
    id_search_fields = ("id",)
    exact_search_fields = ("idempotency_key",)
    search_help_text = "A transaction's id, or its exact idempotency key."
    inlines = [EntryInline]


class SystemAccountFilter(admin.SimpleListFilter):
    """The exchange's own accounts (hot, cold, fees, in transit: a few per currency), whose entries
    the (account, id) index serves; a user's account is found by its id (`?account=<id>`)."""

    title = "system account"
    parameter_name = "account"

    def lookups(self, request, model_admin):
        accounts = Account.objects.exclude(kind=Account.Kind.USER).order_by("currency_id", "kind")
        return [(str(a.pk), f"{a.currency_id} {a.get_kind_display()}") for a in accounts]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(account_id=int(value))


@admin.register(Entry)
class EntryAdmin(LargeTableAdmin, ReadOnlyAdmin):
    """The ledger's entries, newest first. By account through the (account, id) index (the filter,
    or `?account=<id>` for a user's), by transaction through its foreign key's index (a number in
    the search box: the entry with that id and the entries of the transaction with that id)."""

    list_display = ("id", "transaction", "account", "currency", "bucket", "amount")
    list_filter = (SystemAccountFilter,)
    list_select_related = ("transaction", "account__user", "currency")
    id_search_fields = ("id", "transaction_id")
    search_help_text = "An entry's id, or a transaction's id (its entries)."


@admin.register(Hold)
class HoldAdmin(LargeTableAdmin, ReadOnlyAdmin):
    """One hold per order and withdrawal. Filtered by owner type (it leads the one-hold-per-owner
    index); not by status, which changes with every fill and is kept out of the indexes so that
    those updates stay HOT (migration 0012)."""

    list_display = ("id", "account", "owner_type", "owner_id", "amount", "status", "created_at")
    list_filter = ("owner_type",)
    list_select_related = ("account__user",)
    id_search_fields = ("id", "account_id")
    search_help_text = "A hold's id, or an account's id (its holds)."


# The figures of a run in reading order: what is owed, what is held, the chain's side, the adjustments.
FIGURE_COLUMNS = ("users", "fees", "sandbox_issuance", "hot", "cold", "in_transit", "chain_hot", "chain_cold",
                  "chain_in_transit", "deposits_confirmed_uncredited", "sent_unbooked")  # fmt: skip


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(LargeTableAdmin, ReadOnlyAdmin):
    list_display = ("started_at", "trigger", "ok", "mismatch_count")
    list_filter = ("ok", "trigger")  # a run every few minutes: tens of thousands of rows a year
    id_search_fields = ("id",)
    fields = ("started_at", "finished_at", "trigger", "ok", "figures_table", "mismatch_list")
    readonly_fields = fields
    change_list_template = "admin/wallets/reconciliationrun/change_list.html"

    @admin.display(description="Mismatches")
    def mismatch_count(self, obj):
        return len(obj.mismatches)

    @admin.display(description="Figures")
    def figures_table(self, obj):
        if not obj.figures:
            return "—"
        present = {name for figures in obj.figures.values() for name in figures}
        columns = [c for c in FIGURE_COLUMNS if c in present] + sorted(present - set(FIGURE_COLUMNS))
        head = format_html_join("", "<th>{}</th>", ((c,) for c in ["currency", *columns]))
        rows = format_html_join(
            "", "<tr>{}</tr>",
            ((format_html_join("", "<td>{}</td>", ((v,) for v in [code, *(figures.get(c, "—") for c in columns)])),)
             for code, figures in obj.figures.items()),
        )  # fmt: skip
        return format_html("<table><tr>{}</tr>{}</table>", head, rows)

    @admin.display(description="Mismatches")
    def mismatch_list(self, obj):
        if not obj.mismatches:
            return "none"
        return format_html_join("", "<p>{}: {}: {}</p>",
                                ((m["check"], m["subject"], m["detail"]) for m in obj.mismatches))  # fmt: skip

    def get_urls(self):
        run = path("run/", self.admin_site.admin_view(self.run_view), name="wallets_reconciliationrun_run")
        return [run, *super().get_urls()]

    def run_view(self, request):
        """The "Run a reconciliation now" button (this list's page and the dashboard): a POST runs one
        at once, whatever the list holds, and comes back to the page it was pressed on."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = reconciliation.reconcile(trigger="admin", actor=request.user)
        found = "everything matched" if run.ok else f"{len(run.mismatches)} mismatch(es), listed below"
        self.message_user(
            request, f"Reconciliation #{run.pk}: {found}.", messages.SUCCESS if run.ok else messages.ERROR
        )
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            back = reverse("admin:wallets_reconciliationrun_changelist")
        return HttpResponseRedirect(back)

    def changelist_view(self, request, extra_context=None):
        # What the last run found, and the button, whether or not the list has rows.
        context = {"last_run": reconciliation.latest_run(), **(extra_context or {})}
        return super().changelist_view(request, context)


@admin.register(Withdrawal)
class WithdrawalAdmin(LargeTableAdmin, ReadOnlyAdmin):
    """Withdrawals over the auto-approval limit wait here for staff review. Newest first; status and
    currency are indexed; a number finds a withdrawal by id or a user's withdrawals, a text one by
    its txid."""

    list_display = ("id", "created_at", "user", "currency", "amount", "fee", "status", "address", "reviewed_by")
    list_filter = ("status", "currency")
    list_select_related = ("user", "currency", "reviewed_by")
    id_search_fields = ("id", "user_id")
    exact_search_fields = ("txid",)
    user_search_fields = ("user",)
    search_help_text = "A withdrawal's id, a user's id or username, or an exact txid."
    actions = ["approve", "reject"]

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("wallets.change_withdrawal")  # needed for actions; fields stay read-only

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def _each(self, request, queryset, verb, call):
        done, refused = 0, []
        for withdrawal in queryset:
            try:
                call(withdrawal)
                done += 1
            except DomainError as exc:
                refused.append(f"#{withdrawal.pk}: {exc.message}")
        if done:
            self.message_user(request, f"{verb}: {done}.", messages.SUCCESS)
        if refused:
            self.message_user(request, "Refused — " + "; ".join(refused), messages.ERROR)

    @admin.action(description="Approve (send from the hot wallet)")
    def approve(self, request, queryset):
        self._each(request, queryset, "Approved",
                   lambda w: withdrawals.approve(withdrawal_id=w.pk, reviewer=request.user))  # fmt: skip

    @admin.action(description="Reject (release the funds)")
    def reject(self, request, queryset):
        self._each(request, queryset, "Rejected", lambda w: withdrawals.cancel(
            withdrawal_id=w.pk, actor=request.user, reason=f"rejected by {request.user}"))  # fmt: skip


@admin.register(CustodyTransfer)
class CustodyTransferAdmin(WithdrawalAdmin):
    """Sweeps and refills. A refill is approved by someone other than whoever requested it."""

    list_display = ("id", "created_at", "currency", "direction", "amount", "status", "requested_by", "approved_by")
    # Sweeps and refills are a few a day per currency: filters without indexes of their own scan little.
    list_filter = ("direction", "status", "currency")
    list_select_related = ("currency", "requested_by", "approved_by")
    id_search_fields = ("id",)
    exact_search_fields = ("txid",)
    user_search_fields = ()
    search_help_text = "A transfer's id or its exact txid."
    actions = ["approve_refill"]

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("wallets.change_custodytransfer")

    @admin.action(description="Approve refill (four eyes: not your own request)")
    def approve_refill(self, request, queryset):
        self._each(request, queryset, "Approved",
                   lambda t: custody.approve_refill(transfer_id=t.pk, approver=request.user))  # fmt: skip


class InjectDepositForm(django_forms.Form):
    amount = django_forms.DecimalField(max_digits=36, decimal_places=18, min_value=Decimal("0.000000000000000001"))
    confirmations = django_forms.IntegerField(min_value=0, max_value=100, initial=0)


@admin.register(DepositAddress)
class DepositAddressAdmin(ReadOnlyAdmin):
    list_display = ("address", "user", "currency", "created_at")
    list_filter = ("currency",)
    search_fields = ("address", "user__username")
    actions = ["inject_deposit"]

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser  # the action below moves (simulated) money

    @admin.action(description="Inject a deposit on the simulated chain…")
    def inject_deposit(self, request, queryset):
        if not request.user.is_superuser:
            self.message_user(request, "Only superusers can inject deposits.", messages.ERROR)
            return None
        form = InjectDepositForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            for address in queryset.select_related("user", "currency"):
                try:
                    deposits.simulate_deposit(user=address.user, currency_code=address.currency_id,
                                              amount=form.cleaned_data["amount"],
                                              confirmations=form.cleaned_data["confirmations"])  # fmt: skip
                    self.message_user(request, f"Deposit sent to {address.user}.", messages.SUCCESS)
                except DomainError as exc:
                    self.message_user(request, f"{address.user}: {exc.message}", messages.ERROR)
            return None
        return action_form_page(self, request, template="admin/action_form.html", title="Inject a deposit",
                                action="inject_deposit", form=form, queryset=queryset[:20],
                                count=queryset.count())  # fmt: skip


@admin.register(Deposit)
class DepositAdmin(LargeTableAdmin, ReadOnlyAdmin):
    """Newest first; status ((status, -id), migration 0014) and currency are indexed; a number finds
    a deposit by id or a user's deposits, a text one by its txid."""

    list_display = ("id", "detected_at", "user", "currency", "amount", "confirmations", "status", "txid")
    list_filter = ("status", "currency")
    list_select_related = ("user", "currency")
    id_search_fields = ("id", "user_id")
    exact_search_fields = ("txid",)
    user_search_fields = ("user",)
    search_help_text = "A deposit's id, a user's id or username, or an exact txid."


@admin.register(WithdrawalAddress)
class WithdrawalAddressAdmin(ReadOnlyAdmin):
    """Users' address books: shown, never edited here (an entry is confirmed only by its owner's 2FA code)."""

    list_display = ("address", "user", "currency", "label", "created_at", "confirmed_at")
    list_filter = ("currency", ("confirmed_at", admin.EmptyFieldListFilter))
    search_fields = ("address", "user__username", "user__email")
    list_select_related = ("user", "currency")

"""The compliance review queue.

Oldest first; a reviewer claims a case before deciding it, so two reviewers never work one case;
every decision goes through apps.kyc.services (legal transitions only, audit log, notification).
Submitted data is read-only here; documents show inline through the permission-checked view.
"""

from django import forms
from django.contrib import admin, messages
from django.db.models import F
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from apps.core import audit
from apps.core.admin import LargeTablePaginator
from apps.core.exceptions import DomainError
from apps.kyc import services
from apps.kyc.models import Document, Submission


class DocumentInline(admin.TabularInline):
    model = Document
    fields = ("kind", "preview", "content_type", "size", "sha256")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Preview")
    def preview(self, obj):
        if not request_can_view_documents(self.request):
            return "—"
        url = reverse("kyc-document", args=[obj.pk])
        if obj.content_type.startswith("image/"):
            # A thumbnail that fits the inline table (static/css/admin.css); the link opens the file.
            image = '<a class="kyc-preview" href="{}" target="_blank"><img src="{}" alt="{}"></a>'
            return format_html(image, url, url, obj.get_kind_display())
        return format_html('<a href="{}" target="_blank">Open PDF</a>', url)

    def get_formset(self, request, obj=None, **kwargs):
        self.request = request
        return super().get_formset(request, obj, **kwargs)


def request_can_view_documents(request) -> bool:
    return request is not None and request.user.has_perm("kyc.view_document_file")


class RejectForm(forms.Form):
    reason = forms.ChoiceField(choices=Submission.RejectionReason.choices)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False,
                           help_text="Shown to the user. Required when the reason is 'Other'.")  # fmt: skip

    def clean(self):
        data = super().clean()
        if data.get("reason") == Submission.RejectionReason.OTHER and not data.get("note", "").strip():
            self.add_error("note", "Explain the rejection when the reason is 'Other'.")
        return data


class ResubmissionForm(forms.Form):
    missing = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="What is missing or wrong.")


class AssignmentFilter(admin.SimpleListFilter):
    title = "assignment"
    parameter_name = "assigned"

    def lookups(self, request, model_admin):
        return [("mine", "my cases"), ("unclaimed", "unclaimed")]

    def queryset(self, request, queryset):
        if self.value() == "mine":
            return queryset.filter(reviewer=request.user)
        if self.value() == "unclaimed":
            return queryset.filter(status=Submission.Status.PENDING)
        return queryset


class AgeFilter(admin.SimpleListFilter):
    title = "waiting"
    parameter_name = "waiting"

    def lookups(self, request, model_admin):
        return [("1d", "over a day"), ("3d", "over 3 days"), ("7d", "over a week")]

    DAYS = {"1d": 1, "3d": 3, "7d": 7}

    def queryset(self, request, queryset):
        days = self.DAYS.get(self.value())  # anything else in the URL is ignored, not a 500
        if days:
            return queryset.filter(created_at__lt=timezone.now() - timezone.timedelta(days=days))
        return queryset


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ("id", "full_name", "user", "status", "age", "country", "document_type", "reviewer")
    list_filter = (
        "status", AssignmentFilter, AgeFilter, "country", "document_type",
        ("reviewer", admin.RelatedOnlyFieldListFilter),
    )  # fmt: skip
    search_fields = ("full_name", "document_number", "user__username", "user__email")
    list_select_related = ("user", "reviewer")
    # A case per user: no full count, no facet counts, no date drill-down (its year and month links
    # group the whole table); the queue's own order (open cases first) is kept.
    paginator = LargeTablePaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    inlines = [DocumentInline]
    actions = ["claim", "release", "approve", "reject", "request_resubmission"]
    fieldsets = (
        ("Identity", {"fields": ("user", "full_name", "date_of_birth", "country", "document_type",
                                 "document_number")}),
        ("Review", {"fields": ("status", "reviewer", "claimed_at", "decided_at", "rejection_reason",
                               "decision_note", "files_purged_at")}),
        ("History", {"fields": ("history",)}),
    )  # fmt: skip

    ACTION_LABELS = {
        "claim": "Claim for review",
        "release": "Release",
        "approve": "Approve",
        "reject": "Reject…",
        "request_resubmission": "Request resubmission…",
    }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The case page offers the decisions its status allows (for reviewers)."""
        extra_context = extra_context or {}
        submission = self.get_object(request, object_id)
        if submission is not None and request.user.has_perm("kyc.review_submission"):
            extra_context["review_actions"] = [
                (name, self.ACTION_LABELS[name]) for name in services.legal_actions(submission.status)
            ]
        return super().change_view(request, object_id, form_url, extra_context)

    def get_readonly_fields(self, request, obj=None):
        return [f for fieldset in self.fieldsets for f in fieldset[1]["fields"]]

    def has_add_permission(self, request):
        return False  # users submit through the API

    def has_delete_permission(self, request, obj=None):
        return False  # compliance records are kept

    def get_ordering(self, request):
        # Open (undecided) cases first, each group oldest first; column sorting still overrides.
        return [F("decided_at").asc(nulls_first=True), "created_at", "id"]

    @admin.display(description="Age", ordering="created_at")
    def age(self, obj):
        return timesince(obj.created_at)

    @admin.display(description="History (read-only)")
    def history(self, obj):
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (event.created_at.strftime("%Y-%m-%d %H:%M:%S"), event.actor or "system", event.action,
                 event.reason or "")
                for event in audit.history(obj)
            ),
        )  # fmt: skip
        return format_html("<table><tr><th>When</th><th>Who</th><th>What</th><th>Why</th></tr>{}</table>", rows)

    # --- Actions: each goes through a service; refusals are reported per case -------------------

    def _apply(self, request, queryset, action, **kwargs):
        if not request.user.has_perm("kyc.review_submission"):
            self.message_user(request, "You do not have permission to review KYC submissions.", messages.ERROR)
            return
        done, refused = 0, []
        for submission in queryset.order_by("created_at", "id"):
            try:
                getattr(services, action)(submission_id=submission.pk, reviewer=request.user, **kwargs)
                done += 1
            except DomainError as exc:
                refused.append(f"#{submission.pk}: {exc.message}")
        if done:
            self.message_user(request, f"{action.replace('_', ' ').capitalize()}: {done} submission(s).",
                              messages.SUCCESS)  # fmt: skip
        if refused:
            self.message_user(request, "Refused — " + "; ".join(refused), messages.ERROR)

    @admin.action(description="Claim for review")
    def claim(self, request, queryset):
        self._apply(request, queryset, "claim")

    @admin.action(description="Release back to the queue")
    def release(self, request, queryset):
        self._apply(request, queryset, "release")

    @admin.action(description="Approve")
    def approve(self, request, queryset):
        self._apply(request, queryset, "approve")

    @admin.action(description="Reject…")
    def reject(self, request, queryset):
        return self._with_form(request, queryset, RejectForm, "reject", "Reject submissions")

    @admin.action(description="Request resubmission…")
    def request_resubmission(self, request, queryset):
        return self._with_form(request, queryset, ResubmissionForm, "request_resubmission", "Request resubmission")

    def _with_form(self, request, queryset, form_class, action, title):
        form = form_class(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            self._apply(request, queryset, action, **form.cleaned_data)
            return None
        select_across = request.POST.get("select_across") == "1"
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "form": form,
            "queryset": queryset[:20],
            "count": queryset.count(),
            "select_across": select_across,
            # With "select all" the form carries the flag (and the page's filters in its URL) and one
            # id, which Django needs to see a selection, not thousands of ids.
            "selected_ids": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)[: 1 if select_across else None],
            "action": action,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/action_form.html", context)

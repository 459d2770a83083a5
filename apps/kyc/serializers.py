import datetime as dt
import unicodedata

from django.conf import settings
from django.utils import timezone
from django_countries import countries
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.fields import MoneyField
from apps.core.serializers import ModelSerializer
from apps.kyc.models import Submission


@extend_schema_field({"type": "string", "enum": sorted(dict(countries)), "description": "ISO 3166-1 alpha-2, e.g. DE "
                     "(lower case is accepted too)."})  # fmt: skip
class CountryCodeField(serializers.CharField):
    """A country code (checked by SubmissionInput.validate_country)."""


class SubmissionInput(serializers.Serializer):
    full_name = serializers.CharField(max_length=200)
    date_of_birth = serializers.DateField()
    country = CountryCodeField(max_length=2, help_text="ISO 3166-1 alpha-2, e.g. DE")
    document_type = serializers.ChoiceField(choices=Submission.DocumentType.choices)
    document_number = serializers.RegexField(
        r"^[A-Za-z0-9 -]{3,64}$", error_messages={"invalid": "3 to 64 letters, digits, spaces or '-'."}
    )
    document_front = serializers.FileField()
    document_back = serializers.FileField(required=False)
    selfie = serializers.FileField()

    def validate_country(self, value):
        code = value.upper()
        if code not in dict(countries):
            raise serializers.ValidationError("Not an ISO 3166-1 alpha-2 country code.")
        return code

    def validate_date_of_birth(self, value):
        today = timezone.localdate()
        if value > today:
            raise serializers.ValidationError("Is in the future.")
        years = today.year - value.year - ((today.month, today.day) < (value.month, value.day))
        if years < settings.KYC_MINIMUM_AGE:
            raise serializers.ValidationError(f"You must be at least {settings.KYC_MINIMUM_AGE}.")
        if value < dt.date(1900, 1, 1):
            raise serializers.ValidationError("Is not a plausible date of birth.")
        return value

    def validate_full_name(self, value):
        # No control or format characters (a right-to-left override would make a name display as
        # something else in the review queue), no replacement characters from undecodable input.
        if (
            not value.strip()
            or any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") for c in value)
            or "\ufffd" in value
        ):
            raise serializers.ValidationError("Enter the name as on the document.")
        return value.strip()


class SubmissionCreated(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["pending"], help_text="A new submission waits for review.")


class SubmissionOutput(ModelSerializer):
    class Meta:
        model = Submission
        fields = [
            "id", "status", "full_name", "country", "document_type", "created_at", "decided_at",
            "rejection_reason", "decision_note",
        ]  # fmt: skip


class LimitsOutput(serializers.Serializer):
    level = serializers.IntegerField()
    name = serializers.CharField()
    trading = serializers.BooleanField()
    daily_withdrawal_limit = MoneyField(allow_zero=True)
    limit_currency = serializers.CharField()


class KycOverviewOutput(serializers.Serializer):
    level = serializers.IntegerField(help_text="0 none, 1 basic (details submitted), 2 verified (approved).")
    status = serializers.CharField(help_text="Of the latest submission, or 'none'.")
    limits = LimitsOutput()
    submissions = SubmissionOutput(many=True)

"""Base serializers: every model serializer renders times as millisecond UTC strings."""

from django.db import models
from rest_framework import serializers

from apps.core.fields import UTCDateTimeField


class ModelSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: UTCDateTimeField,
    }


class ErrorSerializer(serializers.Serializer):
    """The API.md error envelope, for the OpenAPI schema."""

    class _Error(serializers.Serializer):
        code = serializers.CharField()
        message = serializers.CharField()
        details = serializers.DictField()

    error = _Error()

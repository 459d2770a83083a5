"""Base serializers: every model serializer renders times as millisecond UTC strings."""

from django.db import models
from rest_framework import serializers

from apps.core.fields import UTCDateTimeField


class ModelSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: UTCDateTimeField,
    }

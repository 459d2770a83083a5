"""The user model, custom from the first migration (Django cannot switch it later)."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


class User(AbstractUser):
    class Tier(models.TextChoices):
        BASIC = "basic", "Basic"
        PRO = "pro", "Pro"
        INSTITUTIONAL = "institutional", "Institutional"

    email = models.EmailField("email address", unique=True)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.BASIC)

    REQUIRED_FIELDS = ["email"]

    class Meta:
        constraints = [
            # "Alice@x.com" and "alice@x.com" are one person; so are "Bob" and "bob".
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
            models.UniqueConstraint(Lower("username"), name="accounts_user_username_ci_unique"),
        ]

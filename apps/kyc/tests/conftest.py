import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image
from pypdf import PdfWriter
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from tests.factories import PASSWORD, UserFactory


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.KYC_MEDIA_ROOT = tmp_path / "kyc"
    return settings.KYC_MEDIA_ROOT


def jpeg(size=(64, 48), color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


def png(size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def upload(name: str, content: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day `years` earlier (29 February falls back to the 28th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def submission_form(**overrides):
    adult = years_before(timezone.localdate(), 30)
    form = {
        "full_name": "Carol Example",
        "date_of_birth": adult.isoformat(),
        "country": "DE",
        "document_type": "passport",
        "document_number": "C01X00T47",
        "document_front": upload("front.jpg", jpeg()),
        "document_back": upload("back.png", png(), "image/png"),
        "selfie": upload("selfie.jpg", jpeg(color=(1, 2, 3))),
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


@pytest.fixture
def applicant(db):
    """A user with no KYC submission yet (the one who applies)."""
    return UserFactory()


@pytest.fixture
def applicant_client(applicant):
    """A REST client logged in as the applicant."""
    client = APIClient()
    access = account_services.login(username=applicant.username, password=PASSWORD, otp_code=None).access
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def compliance_reviewer():
    """A staff member in the compliance reviewers' group (as operations set them up)."""
    from django.contrib.auth.models import Group

    from apps.kyc.roles import COMPLIANCE_GROUP, ensure_compliance_group

    ensure_compliance_group()
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=COMPLIANCE_GROUP))
    return user


@pytest.fixture
def reviewer(db):
    return compliance_reviewer()


@pytest.fixture
def second_reviewer(db, reviewer):
    return compliance_reviewer()

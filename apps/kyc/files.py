"""Checks on uploaded identity documents, by content: the client's name and content type are ignored.

Accepted: JPEG, PNG (fully decoded by Pillow, size-limited against decompression bombs) and PDF
(parsed by pypdf, at least one page). Anything else, however it is named, is refused.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import filetype
from django.conf import settings
from PIL import Image
from pypdf import PdfReader

ALLOWED = {"image/jpeg": "jpeg", "image/png": "png", "application/pdf": "pdf"}


class RejectedFile(ValueError):
    pass


@dataclass(frozen=True)
class CheckedFile:
    content: bytes
    content_type: str
    sha256: str


def check_upload(upload) -> CheckedFile:
    """Read and check one uploaded file; RejectedFile says why it is refused."""
    if upload.size > settings.KYC_MAX_FILE_BYTES:
        raise RejectedFile(f"Larger than {settings.KYC_MAX_FILE_BYTES // (1024 * 1024)} MB.")
    content = upload.read(settings.KYC_MAX_FILE_BYTES + 1)
    if len(content) > settings.KYC_MAX_FILE_BYTES:
        raise RejectedFile(f"Larger than {settings.KYC_MAX_FILE_BYTES // (1024 * 1024)} MB.")
    if not content:
        raise RejectedFile("The file is empty.")
    kind = filetype.guess(content)
    mime = kind.mime if kind else None
    if mime not in ALLOWED:
        raise RejectedFile("Only JPEG, PNG or PDF files are accepted (checked by content, not by name).")
    if mime == "application/pdf":
        _check_pdf(content)
    else:
        _check_image(content, ALLOWED[mime])
    return CheckedFile(content=content, content_type=mime, sha256=hashlib.sha256(content).hexdigest())


# Pillow's names for each accepted type: phone cameras write multi-picture JPEGs ("MPO").
IMAGE_FORMATS = {"jpeg": {"jpeg", "mpo"}, "png": {"png"}}


def _check_image(content: bytes, expected_format: str) -> None:
    try:
        with Image.open(io.BytesIO(content)) as image:
            if image.format is None or image.format.lower() not in IMAGE_FORMATS[expected_format]:
                raise RejectedFile("The image data does not match its type.")
            width, height = image.size
            if width * height > settings.KYC_MAX_IMAGE_PIXELS:
                raise RejectedFile("The image has too many pixels.")
            image.load()  # decode every pixel: a truncated or corrupt image fails here
    except RejectedFile:
        raise
    except (Exception, Image.DecompressionBombError) as exc:
        # Pillow raises many types for hostile files (ValueError for oversized text chunks, ...).
        raise RejectedFile("The image cannot be read.") from exc


def _check_pdf(content: bytes) -> None:
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted:
            raise RejectedFile("Encrypted PDFs are not accepted.")
        if len(reader.pages) < 1:
            raise RejectedFile("The PDF has no pages.")
    except RejectedFile:
        raise
    except (Exception, RecursionError) as exc:
        # pypdf raises many types for hostile files (LimitReachedError, AttributeError, ...).
        raise RejectedFile("The PDF cannot be read.") from exc

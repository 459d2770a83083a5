"""Staff-only access to identity documents: never by a public URL."""

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404

from apps.core import audit
from apps.kyc.models import Document


@staff_member_required
def document(request, document_id: int):
    """Stream one document to a staff member with the view_document permission (and, when the
    admin requires OTP, a verified session). Every view is written to the audit log."""
    if not request.user.has_perm("kyc.view_document_file"):
        raise PermissionDenied
    if settings.ADMIN_REQUIRE_OTP and not request.user.is_verified():
        raise PermissionDenied
    doc = get_object_or_404(Document.objects.select_related("submission"), pk=document_id)
    try:
        handle = doc.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The file is gone (retention or storage loss).") from exc
    audit.record(actor=request.user, action="kyc.view_document", target=doc.submission, document=doc.kind)
    response = FileResponse(handle, content_type=doc.content_type)
    response["Content-Disposition"] = f'inline; filename="kyc-{doc.submission_id}-{doc.kind}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    if doc.content_type.startswith("image/"):
        # (Not for PDFs: a sandbox would stop the browser's PDF viewer.)
        response["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response

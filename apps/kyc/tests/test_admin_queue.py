"""The compliance queue through the real admin (test client, OTP login, real actions)."""

import datetime as dt

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.utils import timezone

from apps.core import audit
from apps.kyc import services
from apps.kyc.models import Submission
from apps.kyc.tests.conftest import submission_form
from tests.factories import UserFactory, admin_login

pytestmark = pytest.mark.django_db
QUEUE = "/admin/kyc/submission/"
S = Submission.Status


def make_submission(user=None, age_days=0):
    form = submission_form()
    files = {k: form.pop(k) for k in ("document_front", "document_back", "selfie")}
    form["date_of_birth"] = dt.date.fromisoformat(form["date_of_birth"])
    submission = services.submit(user=user or UserFactory(), data=form, files=files)
    if age_days:
        Submission.objects.filter(pk=submission.pk).update(created_at=timezone.now() - dt.timedelta(days=age_days))
    return submission


def act(client, action, *submissions, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [s.pk for s in submissions], **extra}
    return client.post(QUEUE, data, follow=True)


def status_of(submission):
    submission.refresh_from_db()
    return submission.status


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_the_queue_lists_open_cases_oldest_first(reviewer):
    newer, older = make_submission(age_days=1), make_submission(age_days=5)
    response = admin_login(reviewer).get(QUEUE)
    assert response.status_code == 200
    ids = [s.pk for s in response.context["cl"].result_list]
    assert ids.index(older.pk) < ids.index(newer.pk)
    html = response.content.decode()
    for column in ("Status", "Age", "Country", "Document type", "Reviewer"):
        assert column in html
    filtered = admin_login(UserFactory(is_staff=True, is_superuser=True)).get(QUEUE + "?waiting=3d")
    assert [s.pk for s in filtered.context["cl"].result_list] == [older.pk]


def test_claim_approve_through_admin_actions(reviewer, applicant):
    submission = make_submission(applicant)
    client = admin_login(reviewer)
    act(client, "claim", submission)
    assert status_of(submission) == S.IN_REVIEW and submission.reviewer == reviewer
    response = act(client, "approve", submission)
    assert status_of(submission) == S.APPROVED
    assert any("Approve: 1" in m for m in messages_of(response))


def test_a_case_claimed_by_another_reviewer_cannot_be_taken(reviewer, second_reviewer):
    submission = make_submission()
    act(admin_login(reviewer), "claim", submission)
    response = act(admin_login(second_reviewer), "claim", submission)
    assert any("Refused" in m and f"#{submission.pk}" in m for m in messages_of(response))
    submission.refresh_from_db()
    assert submission.reviewer == reviewer


def test_bulk_actions_refuse_cases_in_the_wrong_state_with_a_message(reviewer):
    claimed, pending = make_submission(), make_submission()
    client = admin_login(reviewer)
    act(client, "claim", claimed)
    response = act(client, "approve", claimed, pending)
    assert status_of(claimed) == S.APPROVED and status_of(pending) == S.PENDING
    text = " ".join(messages_of(response))
    assert "Approve: 1" in text and f"#{pending.pk}" in text and "pending" in text


def test_reject_asks_for_a_reason_first(reviewer):
    submission = make_submission()
    client = admin_login(reviewer)
    act(client, "claim", submission)
    form_page = act(client, "reject", submission)
    assert form_page.status_code == 200 and b"Reject submissions" in form_page.content
    missing_note = act(client, "reject", submission, apply="1", reason="other", note="")
    assert b"Explain the rejection" in missing_note.content and status_of(submission) == S.IN_REVIEW
    act(client, "reject", submission, apply="1", reason="expired", note="Passport expired in 2020")
    assert status_of(submission) == S.REJECTED
    assert submission.rejection_reason == "expired"


def test_request_resubmission_says_what_is_missing(reviewer):
    submission = make_submission()
    client = admin_login(reviewer)
    act(client, "claim", submission)
    act(client, "request_resubmission", submission, apply="1", missing="The back of the ID card")
    assert status_of(submission) == S.RESUBMISSION_REQUESTED
    assert submission.decision_note == "The back of the ID card"


def test_the_case_page_shows_documents_and_the_read_only_history(reviewer):
    submission = make_submission()
    client = admin_login(reviewer)
    act(client, "claim", submission)
    page = client.get(f"{QUEUE}{submission.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    for document in submission.documents.all():
        assert f"/admin/kyc/documents/{document.pk}" in html
    assert "kyc.submit" in html and "kyc.claim" in html
    assert 'name="full_name"' not in html  # submitted data is read-only


def test_documents_are_served_only_to_reviewers(reviewer):
    submission = make_submission()
    document = submission.documents.get(kind="front")
    url = f"/admin/kyc/documents/{document.pk}"
    assert Client().get(url).status_code == 302  # to the admin login
    applicant = Client()
    applicant.force_login(submission.user)
    assert applicant.get(url).status_code == 302  # not staff
    plain_staff = admin_login(UserFactory(is_staff=True))
    assert plain_staff.get(url).status_code == 403  # staff without the permission
    response = admin_login(reviewer).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg" and response["Cache-Control"] == "private, no-store"
    with document.file.open("rb") as stored:
        assert b"".join(response.streaming_content) == stored.read()
    assert audit.history(submission).filter(action="kyc.view_document", actor=reviewer).count() == 1


def test_staff_without_the_review_permission_cannot_decide(reviewer):
    submission = make_submission()
    viewer = UserFactory(is_staff=True)
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_submission"))
    response = act(admin_login(viewer), "claim", submission)
    assert status_of(submission) == S.PENDING
    assert any("permission" in m for m in messages_of(response))


def test_the_case_page_offers_the_legal_decisions_and_they_work(reviewer):
    submission = make_submission()
    client = admin_login(reviewer)
    page = client.get(f"{QUEUE}{submission.pk}/change/")
    assert [name for name, _ in page.context["review_actions"]] == ["claim"]
    act(client, "claim", submission)
    page = client.get(f"{QUEUE}{submission.pk}/change/")
    assert [name for name, _ in page.context["review_actions"]] == ["release", "approve", "reject",
                                                                    "request_resubmission"]  # fmt: skip
    assert b'form="kyc-review-approve"' in page.content


def test_my_cases_filter(reviewer, second_reviewer):
    mine, theirs, open_case = make_submission(), make_submission(), make_submission()
    act(admin_login(reviewer), "claim", mine)
    act(admin_login(second_reviewer), "claim", theirs)
    client = admin_login(reviewer)
    assert [s.pk for s in client.get(QUEUE + "?assigned=mine").context["cl"].result_list] == [mine.pk]
    assert [s.pk for s in client.get(QUEUE + "?assigned=unclaimed").context["cl"].result_list] == [open_case.pk]


def test_odd_filter_values_do_not_break_the_queue(reviewer):
    client = admin_login(reviewer)
    for query in ("?waiting=abc", "?waiting=99999999999d", "?assigned=nobody"):
        assert client.get(QUEUE + query).status_code == 200


def test_decided_cases_sort_after_open_ones(reviewer):
    decided = make_submission(age_days=9)
    client = admin_login(reviewer)
    act(client, "claim", decided)
    act(client, "approve", decided)
    fresh = make_submission()
    ids = [s.pk for s in client.get(QUEUE).context["cl"].result_list]
    assert ids.index(fresh.pk) < ids.index(decided.pk)


def test_reject_with_select_all_carries_the_flag_not_the_ids(reviewer):
    submissions = [make_submission() for _ in range(3)]
    client = admin_login(reviewer)
    for submission in submissions:
        act(client, "claim", submission)
    form = client.post(QUEUE, {"action": "reject", "select_across": "1", ACTION_CHECKBOX_NAME: [submissions[0].pk]})
    html = form.content.decode()
    assert 'name="select_across" value="1"' in html and f'value="{submissions[1].pk}"' not in html
    client.post(QUEUE, {"action": "reject", "select_across": "1", "apply": "1", "reason": "expired", "note": "",
                        ACTION_CHECKBOX_NAME: [submissions[0].pk]})  # fmt: skip
    assert all(status_of(s) == S.REJECTED for s in submissions)


def test_a_purged_document_is_404_not_500(reviewer):
    submission = make_submission()
    document = submission.documents.first()
    document.file.storage.delete(document.file.name)
    assert admin_login(reviewer).get(f"/admin/kyc/documents/{document.pk}").status_code == 404

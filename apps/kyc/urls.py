from django.urls import path

from apps.kyc import api

urlpatterns = [
    path("kyc/submissions", api.SubmissionCreateView.as_view(), name="kyc-submissions"),
    path("kyc", api.KycOverviewView.as_view(), name="kyc"),
]

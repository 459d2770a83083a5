"""Accounts API: thin views over apps.accounts.services and selectors."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import selectors, services
from apps.accounts import serializers as s
from apps.accounts.permissions import ApiKeyScope
from apps.core.idempotency import PARAMETER, idempotent

TAGS = ["accounts"]


class PublicAuthView(APIView):
    """Anonymous endpoints with a strict per-address budget."""

    authentication_classes = []
    permission_classes = [AllowAny]


class AccountActionView(APIView):
    """Logged-in endpoints that an API key must never reach (keys, 2FA, logout)."""

    permission_classes = [IsAuthenticated, ApiKeyScope]
    api_key_permission = None


def validated(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class RegisterView(PublicAuthView):
    throttle_scope = "register"

    @extend_schema(request=s.RegisterInput, responses={201: s.RegisteredUser}, tags=TAGS, auth=[])
    def post(self, request):
        user = services.register_user(**validated(s.RegisterInput, request))
        return Response(s.RegisteredUser(user).data, status=status.HTTP_201_CREATED)


class LoginView(PublicAuthView):
    throttle_scope = "login"

    @extend_schema(
        request=s.LoginInput,
        responses={200: s.TokenPairOutput},
        tags=TAGS,
        auth=[],
        description="401 `invalid_credentials`, `otp_required` (2FA on, no code) or `invalid_otp`.",
    )
    def post(self, request):
        data = validated(s.LoginInput, request)
        pair = services.login(
            username=data["username"], password=data["password"], otp_code=data.get("otp_code"), request=request
        )
        return Response({"access": pair.access, "refresh": pair.refresh})


class RefreshView(PublicAuthView):
    throttle_scope = "refresh"

    @extend_schema(request=s.RefreshInput, responses={200: s.TokenPairOutput}, tags=TAGS, auth=[])
    def post(self, request):
        pair = services.refresh_tokens(refresh=validated(s.RefreshInput, request)["refresh"])
        return Response({"access": pair.access, "refresh": pair.refresh})


class LogoutView(AccountActionView):
    # Logging out is idempotent: a token of a session that already logged out may do it again.
    accepts_ended_session = True

    @extend_schema(request=s.RefreshInput, responses={204: None}, tags=TAGS)
    def post(self, request):
        services.logout(user=request.user, refresh=validated(s.RefreshInput, request)["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccountView(APIView):
    api_key_permission = "read"

    @extend_schema(responses={200: s.AccountOutput}, tags=TAGS)
    def get(self, request):
        return Response(s.AccountOutput(selectors.account_profile(request.user)).data)


class TwoFactorSetupView(AccountActionView):
    throttle_scope = "two_factor"

    @extend_schema(request=None, responses={200: s.TwoFactorSetupOutput}, tags=TAGS)
    def post(self, request):
        setup = services.begin_two_factor_setup(user=request.user)
        return Response({"secret": setup.secret, "otpauth_uri": setup.otpauth_uri, "qr_svg": setup.qr_svg})


class TwoFactorConfirmView(AccountActionView):
    throttle_scope = "two_factor"

    @extend_schema(request=s.OtpInput, responses={200: s.BackupCodesOutput}, tags=TAGS)
    def post(self, request):
        codes = services.confirm_two_factor(user=request.user, code=validated(s.OtpInput, request)["otp_code"])
        return Response({"backup_codes": codes})


class TwoFactorDisableView(AccountActionView):
    throttle_scope = "two_factor"

    @extend_schema(request=s.OtpInput, responses={204: None}, tags=TAGS)
    def post(self, request):
        services.disable_two_factor(user=request.user, code=validated(s.OtpInput, request)["otp_code"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiKeyListView(AccountActionView):
    @extend_schema(responses={200: s.ApiKeyOutput(many=True)}, tags=TAGS)
    def get(self, request):
        return Response(s.ApiKeyOutput(selectors.api_keys_for(request.user), many=True).data)

    @extend_schema(request=s.ApiKeyInput, responses={201: s.NewApiKeyOutput}, tags=TAGS, parameters=[PARAMETER])
    @idempotent
    def post(self, request):
        created = services.create_api_key(user=request.user, **validated(s.ApiKeyInput, request))
        body = s.ApiKeyOutput(created.api_key).data | {"secret": created.secret}
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyDetailView(AccountActionView):
    @extend_schema(responses={204: None}, tags=TAGS)
    def delete(self, request, api_key_id: int):
        services.revoke_api_key(user=request.user, api_key_id=api_key_id)
        return Response(status=status.HTTP_204_NO_CONTENT)

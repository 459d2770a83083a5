"""Input and output shapes of the accounts API (docs/api.md "Accounts")."""

import ipaddress

from rest_framework import serializers

from apps.accounts.models import ApiKey
from apps.accounts.net import allowlist_network, ipv4_prefixlen
from apps.core.serializers import ModelSerializer


def _ascii_email(value: str) -> str:
    # Look-alikes ("K" KELVIN SIGN for "K", long s for "s") pass the email check but are other
    # addresses to the database: one person could register several look-alike accounts.
    if not value.isascii():
        raise serializers.ValidationError("Use an ASCII email address.")
    return value


class RegisterInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254, validators=[_ascii_email])
    # ASCII only: look-alike letters from other scripts would let one name impersonate another.
    username = serializers.RegexField(
        r"^[A-Za-z0-9_.-]{3,30}$",
        error_messages={"invalid": "3 to 30 characters: letters, digits, '_', '.', '-'."},
    )
    password = serializers.CharField(max_length=128, trim_whitespace=False, write_only=True)


class RegisteredUser(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    username = serializers.CharField()


class LoginInput(serializers.Serializer):
    username = serializers.CharField(max_length=254, help_text="Username or email address.")
    password = serializers.CharField(max_length=128, trim_whitespace=False, write_only=True)
    otp_code = serializers.CharField(
        max_length=32, required=False, allow_blank=True, help_text="TOTP or backup code, when 2FA is on."
    )


class TokenPairOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField(help_text="Rotating: use the new one next time; the old one is revoked.")


class RefreshInput(serializers.Serializer):
    refresh = serializers.CharField(max_length=2048)


class AccountOutput(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    username = serializers.CharField()
    tier = serializers.ChoiceField(choices=["basic", "pro", "institutional"])
    kyc_level = serializers.IntegerField()
    two_factor_enabled = serializers.BooleanField()


class OtpInput(serializers.Serializer):
    otp_code = serializers.CharField(max_length=32)


class TwoFactorSetupOutput(serializers.Serializer):
    secret = serializers.CharField(help_text="Base32, for typing into an authenticator app.")
    otpauth_uri = serializers.CharField()
    qr_svg = serializers.CharField(help_text="The otpauth URI as a QR code (SVG document).")


class BackupCodesOutput(serializers.Serializer):
    backup_codes = serializers.ListField(child=serializers.CharField(), help_text="Each works once. Shown once.")


# The widest networks a withdraw key may name: prefix lengths for IPv4 and IPv6. An IPv6 network that
# embeds IPv4 addresses (IPv4-mapped, -compatible, NAT64, 6to4) must also stay within an IPv4 /24.
NARROWEST_IPV4, NARROWEST_IPV6 = 24, 48


def _network(value: str) -> str:
    try:
        return str(allowlist_network(value))
    except ValueError as exc:
        raise serializers.ValidationError(f"{value!r} is not an IP address or CIDR network.") from exc


def _too_wide_for_withdrawals(entry: str) -> bool:
    network = ipaddress.ip_network(entry)
    if network.version == 6 and network.prefixlen < NARROWEST_IPV6:
        return True
    return ipv4_prefixlen(network) < NARROWEST_IPV4


class ApiKeyInput(serializers.Serializer):
    label = serializers.CharField(max_length=64)
    permissions = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiKey.Permission.choices), min_length=1, max_length=3
    )
    ip_allowlist = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, default=list, max_length=50
    )
    otp_code = serializers.CharField(
        max_length=32, required=False, allow_blank=True, help_text="Required when two-factor is on."
    )

    def validate_ip_allowlist(self, value):
        return sorted({_network(entry) for entry in value})

    def validate(self, attrs):
        # A leaked withdraw key must not work from anywhere (the large exchanges require this too),
        # and "0.0.0.0/0" is anywhere: withdraw keys name networks of at most /24 (IPv4) or /48.
        if "withdraw" in attrs["permissions"]:
            if not attrs["ip_allowlist"]:
                raise serializers.ValidationError({"ip_allowlist": ["Required for keys with the withdraw permission."]})
            wide = [n for n in attrs["ip_allowlist"] if _too_wide_for_withdrawals(n)]
            if wide:
                raise serializers.ValidationError({"ip_allowlist": [
                    f"Too wide for a withdraw key (at most /24 for IPv4, /48 for IPv6, and no more than an "
                    f"IPv4 /24 in IPv4-mapped or other IPv4-embedding IPv6 forms): {wide}."
                ]})  # fmt: skip
        return attrs


class ApiKeyOutput(ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "label", "key", "permissions", "ip_allowlist", "created_at", "last_used_at"]


class NewApiKeyOutput(ApiKeyOutput):
    secret = serializers.CharField(help_text="Shown once. Sign requests with it; it cannot be shown again.")

    class Meta(ApiKeyOutput.Meta):
        fields = [*ApiKeyOutput.Meta.fields, "secret"]

"""System checks: a faucet misconfiguration is refused at start (`manage.py check`, every process),
not discovered by the first user; and `check --deploy` warns that sandbox mode is on."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from apps.sandbox import limits


@register()
def faucet_configuration(app_configs, **kwargs):
    errors = []
    try:
        limits.parse_rate(settings.SANDBOX_FAUCET_RATE)
    except ValueError as exc:
        errors.append(Error(f"SANDBOX_FAUCET_RATE: {exc}", id="sandbox.E001"))
    if "*" not in settings.SANDBOX_FAUCET_AMOUNTS:
        errors.append(Error("SANDBOX_FAUCET_AMOUNTS needs a '*' row (every currency without its own row).",
                            id="sandbox.E002"))  # fmt: skip
    for code in settings.SANDBOX_FAUCET_AMOUNTS:
        try:
            limits.amounts_for(code)
        except ValueError as exc:
            errors.append(Error(str(exc), id="sandbox.E002"))
    return errors


@register(Tags.security, deploy=True)
def sandbox_mode_in_production(app_configs, **kwargs):
    if settings.EXCHANGE_SANDBOX:
        return [Warning(
            "EXCHANGE_SANDBOX is on: any user can credit themselves test funds with POST /api/v1/sandbox/faucet.",
            hint="Only for a test venue whose funds are not real; silence sandbox.W001 there.",
            id="sandbox.W001",
        )]  # fmt: skip
    return []

"""The admin's navigation by role, not by Django app: each section lists the models the user may view
(Django's own permission checks, through AdminSite._build_app_dict), so a role sees only its sections."""

from __future__ import annotations

from django.urls import reverse

# (section, css slug, [(app_label, model name), ...]) in the order they are shown.
SECTIONS = [
    ("Compliance", "compliance", [("kyc", "submission")]),
    ("Treasury", "treasury", [
        ("wallets", "withdrawal"), ("wallets", "custodytransfer"), ("wallets", "reconciliationrun"),
        ("wallets", "currency"), ("wallets", "deposit"), ("wallets", "depositaddress"),
        ("wallets", "withdrawaladdress"), ("wallets", "account"), ("wallets", "transaction"), ("wallets", "entry"),
        ("wallets", "hold"),
    ]),
    ("Trading", "trading", [
        ("markets", "market"), ("orders", "order"), ("trades", "trade"), ("portfolio", "position"),
        ("portfolio", "snapshot"),
    ]),
    ("Users and access", "users", [
        ("accounts", "user"), ("auth", "group"), ("accounts", "apikey"), ("otp_totp", "totpdevice"),
        ("otp_static", "staticdevice"), ("token_blacklist", "outstandingtoken"),
        ("token_blacklist", "blacklistedtoken"),
    ]),
    ("Audit", "audit", [("core", "auditevent")]),
]  # fmt: skip

# Third-party models' names as staff say them (their own verbose names are "TOTP device", "Outstanding Token"...).
NAMES = {
    ("auth", "group"): "Staff roles (groups)",
    ("otp_totp", "totpdevice"): "Authenticator apps (TOTP)",
    ("otp_static", "staticdevice"): "Backup codes",
    ("token_blacklist", "outstandingtoken"): "Issued refresh tokens",
    ("token_blacklist", "blacklistedtoken"): "Revoked refresh tokens",
}


def sections(app_dict: dict) -> list[dict]:
    """Django's {app_label: {"models": [...]}} (only what the user may see) regrouped into SECTIONS, in
    the shape the admin's templates expect of an app; a model of no section lands in "Other"."""
    by_key = {
        (label, model["object_name"].lower()): model for label, app in app_dict.items() for model in app["models"]
    }
    result = []
    placed = set()
    for name, slug, keys in SECTIONS:
        models, labels = [], []
        for key in keys:
            model = by_key.get(key)
            if model is not None:
                placed.add(key)
                models.append({**model, "name": NAMES.get(key, model["name"])})
                labels.append(key[0])
        if models:
            result.append(_section(name, slug, models, labels))
    rest = [(key, model) for key, model in sorted(by_key.items()) if key not in placed]
    if rest:
        result.append(_section("Other", "other", [model for _, model in rest], [key[0] for key, _ in rest]))
    return result


def _section(name: str, slug: str, models: list[dict], app_labels: list[str]) -> dict:
    labels = list(dict.fromkeys(app_labels))
    return {
        "name": name,
        "app_label": slug,
        "app_labels": labels,  # the apps whose page (/admin/<app_label>/) shows this section
        "app_url": reverse("admin:app_list", kwargs={"app_label": labels[0]}),
        "has_module_perms": True,
        "models": models,
    }

"""The admin's navigation by role, not by Django app: each section lists the models the user may view
(Django's own permission checks, through AdminSite._build_app_dict), so a role sees only its sections."""

from __future__ import annotations

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
        models = []
        for key in keys:
            model = by_key.get(key)
            if model is not None:
                placed.add(key)
                models.append({**model, "name": NAMES.get(key, model["name"])})
        if models:
            result.append(_section(name, slug, models))
    rest = [model for key, model in sorted(by_key.items()) if key not in placed]
    if rest:
        result.append(_section("Other", "other", rest))
    return result


def _section(name: str, slug: str, models: list[dict]) -> dict:
    return {
        "name": name,
        "app_label": slug,
        "app_url": models[0].get("admin_url") or "#",
        "has_module_perms": True,
        "models": models,
    }

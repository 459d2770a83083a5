"""Staff roles as Django groups, each kept in step with its permissions after every migrate by the
app that owns the permissions (apps.kyc.roles, apps.wallets.roles, apps.markets.roles)."""

from django.contrib.auth.models import Group, Permission


def ensure_group(name: str, permissions: list[tuple[str, str]]) -> Group:
    """The group, with every listed (app_label, codename) permission that exists yet (a permission
    of an app migrated later is added by the next post_migrate)."""
    group, _ = Group.objects.get_or_create(name=name)
    wanted = [
        p
        for app_label, codename in permissions
        if (p := Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()) is not None
    ]
    group.permissions.add(*wanted)
    return group

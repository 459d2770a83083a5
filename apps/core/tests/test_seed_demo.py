import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_prints_working_credentials(settings, tmp_path, capsys):
    settings.VAR_DIR = tmp_path
    call_command("seed_demo")
    first = capsys.readouterr().out
    call_command("seed_demo")
    second = capsys.readouterr().out
    assert first == second
    password = first.split("/")[-1].strip()
    User = get_user_model()
    assert User.objects.filter(username="admin").count() == 1
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    assert (tmp_path / "demo-credentials").stat().st_mode & 0o077 == 0

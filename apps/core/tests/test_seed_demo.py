import json

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
    User = get_user_model()
    passwords = json.loads((tmp_path / "demo-credentials.json").read_text())
    assert set(passwords) == {"admin", "alice", "bob"}
    for username, password in passwords.items():
        assert f"{username} / {password}" in first
        assert User.objects.get(username=username).check_password(password)
    assert User.objects.get(username="admin").is_superuser
    assert not User.objects.get(username="alice").is_staff
    assert User.objects.get(username="bob").tier == "pro"
    assert (tmp_path / "demo-credentials.json").stat().st_mode & 0o077 == 0


@pytest.mark.django_db
def test_seed_demo_says_when_admin_otp_is_off(settings, tmp_path, capsys):
    settings.VAR_DIR = tmp_path
    settings.ADMIN_REQUIRE_OTP = False
    call_command("seed_demo")
    assert "Admin OTP is OFF" in capsys.readouterr().out

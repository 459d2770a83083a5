from django.urls import path

from apps.accounts import api

urlpatterns = [
    path("auth/register", api.RegisterView.as_view(), name="register"),
    path("auth/login", api.LoginView.as_view(), name="login"),
    path("auth/refresh", api.RefreshView.as_view(), name="refresh"),
    path("auth/logout", api.LogoutView.as_view(), name="logout"),
    path("account", api.AccountView.as_view(), name="account"),
    path("account/2fa/setup", api.TwoFactorSetupView.as_view(), name="2fa-setup"),
    path("account/2fa/confirm", api.TwoFactorConfirmView.as_view(), name="2fa-confirm"),
    path("account/2fa/disable", api.TwoFactorDisableView.as_view(), name="2fa-disable"),
    path("account/api-keys", api.ApiKeyListView.as_view(), name="api-keys"),
    path("account/api-keys/<int:api_key_id>", api.ApiKeyDetailView.as_view(), name="api-key"),
]

"""What the ASGI and WSGI forms of `RequestBodyLimit` share (apps.core.asgi, apps.core.wsgi): the
limit of a request's path, REQUEST_BODY_PATH_LIMITS or else REQUEST_BODY_MAX_BYTES."""

from __future__ import annotations

from django.conf import settings


class PathBodyLimits:
    def __init__(self, application, default_limit: int, path_limits: dict[str, int]):
        self.application = application
        self.default_limit = default_limit
        self.path_limits = path_limits

    def limit_for(self, path: str) -> int:
        return self.path_limits.get(path, self.default_limit)

    @classmethod
    def from_settings(cls, application):
        return cls(application, settings.REQUEST_BODY_MAX_BYTES, settings.REQUEST_BODY_PATH_LIMITS)

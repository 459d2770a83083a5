"""How a WebSocket connection authenticates (docs/api.md, WebSocket): the stream endpoint in
apps.core.consumers knows no users, so the app that owns them registers its two checks there."""

from apps.accounts.authentication import authenticate_stream, still_authenticated
from apps.core.consumers import AUTHENTICATION

AUTHENTICATION.update(authenticate=authenticate_stream, still_authenticated=still_authenticated)

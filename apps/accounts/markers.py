"""Revocation markers in Redis, and the one script that checks them together with the rate limit.

A JWT access token carries its user's claims (apps.accounts.identity), so a request needs no
database query to know who is asking. What keeps those claims honest is a marker per user in Redis,
`exchange:auth:user:<id>`, a hash of two random values:

- `rev`: replaced when the user's tokens must stop working at once: password change, user disabled or
  deleted. A token whose `rev` differs is refused (401 `invalid_token`).
- `cv` (claims version): replaced when something a token states stops being true: tier, username,
  email, KYC level (hence whether the user may trade), two-factor on or off. A token whose `cv`
  differs is not refused: that request reads the user from the database as before (the client
  gets fresh claims at its next refresh).

A logout ends one session (the family of tokens of one login, claim `sid`): `exchange:auth:session:
<sid>` exists for as long as the session's access tokens could live. An API key has a version,
`exchange:auth:apikey:<key>`, replaced when it is revoked (apps.accounts.keyring caches keys per process).

Markers are random values, not counters or clocks: a marker Redis lost cannot come back with an old
value, and no clock is compared between machines. A user's marker lives as long as the tokens that
carry it (its TTL is renewed at each issue). A missing marker (Redis lost its data, or the tokens
were issued against another Redis) makes the token's requests read the database, as before claims
existed: the password hash and `is_active` are checked there, so only logouts of the last few
minutes are lost with Redis's data (their session markers are gone too).

A change moves its marker before it commits (so a change cannot commit while Redis is unreachable:
everything a token could do also needs Redis, see docs/api.md "Rate limits"), holding the changed user's
or key's row locked until the commit; whoever issues claims reads the marker first and then the rows
under a lock, so a token or cached key carrying the new marker never holds the data from before it."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.db import transaction

from apps.accounts.models import User
from apps.core import piggyback
from apps.core.redis import get_redis

# Answers of the admission script.
OK, CLAIMS_CHANGED, REVOKED, SESSION_ENDED, STALE_KEY, REPLAYED, TOO_MANY_FAILURES = range(7)

# KEYS: 1 user marker, 2 session marker, 3 API key version, 4 replay claim, 5 rate-limit sorted set,
# 6 API key last-use stamp, 7 market registry version, 8 the caller's failed-authentication sorted set.
# ARGV: 1 mode ("jwt", "key" or "" for the rate limit alone), 2 rev, 3 cv, 4 key version, 5 replay
# claim TTL (ms), 6 now (ms), 7 window (ms), 8 limit (-1: no rate limit), 9 record (1/0), 10 member,
# 11 last-use resolution (ms), 12 failed-authentication limit (-1: not checked), 13 its window (ms).
# Returns {answer, requests in the window, allowed 1/0, ms until one more fits, record last use 1/0,
# market registry version}. Nothing is counted unless the answer is OK.
_ADMIT = """
local mode = ARGV[1]
local registry = redis.call('GET', KEYS[7])
local now = tonumber(ARGV[6])
local flimit = tonumber(ARGV[12])
if flimit >= 0 then
  local fwindow = tonumber(ARGV[13])
  redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now - fwindow)
  local f = redis.call('ZCARD', KEYS[8])
  if f >= flimit then
    local wait = fwindow
    if flimit > 0 then
      local nth = redis.call('ZRANGE', KEYS[8], f - flimit, f - flimit, 'WITHSCORES')
      wait = tonumber(nth[2]) + fwindow - now
    end
    return {6, f, 0, wait, 0, registry}
  end
end
if mode == 'jwt' then
  local m = redis.call('HMGET', KEYS[1], 'rev', 'cv')
  if not m[1] then return {1, 0, 0, 0, 0, registry} end
  if m[1] ~= ARGV[2] then return {2, 0, 0, 0, 0, registry} end
  if redis.call('EXISTS', KEYS[2]) == 1 then return {3, 0, 0, 0, 0, registry} end
  if m[2] ~= ARGV[3] then return {1, 0, 0, 0, 0, registry} end
elseif mode == 'key' then
  local m = redis.call('HMGET', KEYS[1], 'rev', 'cv')
  if m[1] ~= ARGV[2] or m[2] ~= ARGV[3] or redis.call('GET', KEYS[3]) ~= ARGV[4] then
    return {4, 0, 0, 0, 0, registry}
  end
  if not redis.call('SET', KEYS[4], 1, 'NX', 'PX', ARGV[5]) then return {5, 0, 0, 0, 0, registry} end
end
local used, allowed, wait = 0, 1, 0
local window, limit, record = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
if limit >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - window)
  local n = redis.call('ZCARD', KEYS[5])
  if n + record > limit or (record == 0 and n >= limit) then
    allowed, used = 0, n
    if limit <= 0 then
      wait = window
    else
      local nth = redis.call('ZRANGE', KEYS[5], n - limit, n - limit, 'WITHSCORES')
      wait = tonumber(nth[2]) + window - now
    end
  else
    if record > 0 then
      redis.call('ZADD', KEYS[5], now, ARGV[10])
      for i = 2, record do  -- a batch counts each of its orders
        redis.call('ZADD', KEYS[5], now, ARGV[10] .. '#' .. i)
      end
      redis.call('PEXPIRE', KEYS[5], window)
    end
    used = n + record
  end
end
local use = 0
if mode == 'key' and allowed == 1 and redis.call('SET', KEYS[6], 1, 'NX', 'PX', ARGV[11]) then use = 1 end
return {0, used, allowed, wait, use, registry}
"""

# KEYS[1]: a user marker. ARGV: a new rev, a new cv, TTL (ms). The marker's values (made if missing),
# its TTL renewed: tokens issued now carry them.
_ENSURE_USER = """
local m = redis.call('HMGET', KEYS[1], 'rev', 'cv')
if not m[1] then m[1] = ARGV[1]; redis.call('HSET', KEYS[1], 'rev', m[1]) end
if not m[2] then m[2] = ARGV[2]; redis.call('HSET', KEYS[1], 'cv', m[2]) end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return m
"""

# KEYS[1]: a user marker. ARGV: a new cv, a new rev or "" (claims changed only), TTL (ms). A missing
# marker stays missing: no token of that user is accepted anyway.
_BUMP_USER = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'cv', ARGV[1])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'rev', ARGV[2]) end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
"""

_NONE = "exchange:auth:none"  # a key name for the script's unused slots; never written


@lru_cache(maxsize=16)
def _script(client, text: str):
    # EVALSHA with the script's digest (redis-py loads it again if Redis forgot it).
    return client.register_script(text)


def _run(text: str, keys: list, args: list):
    client = get_redis()
    return _script(client, text)(keys=keys, args=args, client=client)


def user_key(user_id) -> str:
    return f"exchange:auth:user:{user_id}"


def session_key(session: str) -> str:
    return f"exchange:auth:session:{session}"


def api_key_version_key(key: str) -> str:
    return f"exchange:auth:apikey:{key}"


def rate_limit_key(scope: str, who: str) -> str:
    return f"exchange:ratelimit:{scope}:{who}"


def replay_key(key: str, signature: str) -> str:
    return f"exchange:apikey:seen:{key}:{signature}"


def _new() -> str:
    return secrets.token_hex(8)


def _token_ttl_ms() -> int:
    # As long as an access token issued now can live, plus leeway for clocks and slow requests.
    return int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds() * 1000) + 60_000


@dataclass(frozen=True)
class UserMarker:
    rev: str
    cv: str


def ensure_user(user_id, *, ttl_ms: int | None = None) -> UserMarker:
    """The user's current marker, made if missing, kept alive for the tokens about to be issued (at
    least `ttl_ms`). Read it BEFORE reading what the tokens will claim: a change committed after
    this read replaces the marker, so a token built from older data is never accepted."""
    ttl_ms = max(ttl_ms or 0, _token_ttl_ms())
    rev, cv = _run(_ENSURE_USER, [user_key(user_id)], [_new(), _new(), ttl_ms])
    return UserMarker(rev, cv)


# User id -> when (time.monotonic) this process last changed something a token claims about them.
_local_changes: dict[int, float] = {}


def note_local_change(user_id) -> None:
    """A change made by this process: a request of that user already past its check (maybe the very
    request making the change) must not answer from its claims any more."""
    now = time.monotonic()
    if len(_local_changes) > 10_000:
        for stale in [uid for uid, at in list(_local_changes.items()) if now - at > 600]:
            _local_changes.pop(stale, None)
    _local_changes[int(user_id)] = now


def changed_here_since(user_id, at: float) -> bool:
    """Whether this process changed something the user's tokens claim at or after `at` (monotonic)."""
    return _local_changes.get(int(user_id), -1.0) >= at


def _hold_user_row(user_id) -> None:
    """Inside a transaction, lock the user's row until the commit before moving a marker: an issuer
    that reads the moved marker then waits on this row (identity.current) and reads the committed
    change, never the data from before it."""
    if transaction.get_connection().in_atomic_block:
        list(User.objects.select_for_update(no_key=True).filter(pk=user_id).values_list("pk", flat=True))


def user_changed(user_id, *, revoke: bool) -> None:
    """Something a token of the user claims changed (revoke=False: those tokens fall back to the
    database) or the user's tokens must stop working (revoke=True: refused). Raises if Redis is
    unreachable: the change must not commit while tokens would still pass."""
    _hold_user_row(user_id)
    note_local_change(user_id)
    _run(_BUMP_USER, [user_key(user_id)], [_new(), _new() if revoke else "", _token_ttl_ms()])


def end_session(session: str) -> None:
    """Refuse every access token of one session (a logout) for as long as any can live."""
    get_redis().set(session_key(session), 1, px=_token_ttl_ms())


def ensure_api_key(key: str) -> str:
    """The key's version, made if missing. Read it with the key's row locked (apps.accounts.keyring)."""
    redis = get_redis()
    name = api_key_version_key(key)
    redis.set(name, _new(), nx=True)
    return redis.get(name)


def api_keys_changed(keys: list[str]) -> None:
    """The keys were revoked (or deleted): every process's cached copy is stale from now on. Call it
    with the keys' rows locked (a loader that reads the new version then waits for the commit:
    apps.accounts.keyring)."""
    if keys:
        get_redis().mset({api_key_version_key(key): _new() for key in keys})


@dataclass(frozen=True)
class RateHit:
    """A request to count against a rate-limit budget: the throttle's key, limit and window."""

    scope: str
    who: str
    limit: int
    window_ms: int
    record: int = 1  # how many requests this one counts as (0: only look; a batch of orders: each order)
    member: str = ""


@dataclass(frozen=True)
class Admission:
    answer: int
    used: int = 0
    allowed: bool = True
    wait_ms: int = 0
    record_use: bool = False


def admit(
    *,
    mode: str = "",
    user_id=None,
    marker: UserMarker | None = None,
    session: str = "",
    key: str = "",
    key_version: str = "",
    signature: str = "",
    rate: RateHit | None = None,
    failures: RateHit | None = None,
    now_ms: int | None = None,
    in_request: bool = False,
) -> Admission:
    """One Redis round trip: the caller's failed-authentication budget (`failures`, looked at only),
    the token's or key's markers, the API key's replay claim, the rate limit (counted only if the rest
    passed) and the key's last-use stamp. `in_request`: an HTTP request's check, whose reading of the
    market registry's version the rest of the request may use (apps.core.piggyback)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    keys = [
        user_key(user_id) if user_id is not None else _NONE,
        session_key(session) if session else _NONE,
        api_key_version_key(key) if key else _NONE,
        replay_key(key, signature) if signature else _NONE,
        rate_limit_key(rate.scope, rate.who) if rate else _NONE,
        f"exchange:auth:apikey-used:{key}" if key else _NONE,
        piggyback.MARKETS_VERSION_KEY,
        rate_limit_key(failures.scope, failures.who) if failures else _NONE,
    ]
    args = [
        mode,
        marker.rev if marker else "",
        marker.cv if marker else "",
        key_version,
        2 * settings.API_KEY_TIMESTAMP_WINDOW_MS + 1000,
        now_ms,
        rate.window_ms if rate else 0,
        rate.limit if rate else -1,
        int(rate.record) if rate else 0,
        (rate.member or f"{now_ms}-{secrets.token_hex(4)}") if rate else "",
        settings.API_KEY_LAST_USED_RESOLUTION_SECONDS * 1000,
        failures.limit if failures else -1,
        failures.window_ms if failures else 0,
    ]
    answer, used, allowed, wait_ms, use, registry = _run(_ADMIT, keys, args)
    if in_request:
        piggyback.note_markets_version(registry)
    return Admission(answer, used, bool(allowed), wait_ms, bool(use))

// The REST client of the trading page: the public API of docs/api.md and nothing else.
// Tokens: the access token (5 minutes) and the refresh token live in sessionStorage, so a reload keeps
// the session and closing the tab ends it; the page's Content-Security-Policy lets no other script run.

const BASE = "/api/v1/";
const STORE = window.sessionStorage;

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

/** Seconds left before a JWT expires (its `exp` claim); 0 when it cannot be read. */
function secondsLeft(token) {
  try {
    const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return payload.exp - Date.now() / 1000;
  } catch {
    return 0;
  }
}

export class Api extends EventTarget {
  constructor() {
    super();
    this.access = STORE.getItem("exchange.access");
    this.refreshToken = STORE.getItem("exchange.refresh");
    this.refreshing = null;
  }

  get loggedIn() {
    return Boolean(this.refreshToken);
  }

  saveTokens(access, refresh) {
    this.access = access;
    STORE.setItem("exchange.access", access);
    if (refresh) {
      this.refreshToken = refresh;
      STORE.setItem("exchange.refresh", refresh);
    }
  }

  forget() {
    this.access = this.refreshToken = null;
    STORE.removeItem("exchange.access");
    STORE.removeItem("exchange.refresh");
  }

  /** A valid access token, refreshed when it has less than 30 seconds left; null when logged out. */
  async token() {
    if (!this.refreshToken) return null;
    if (this.access && secondsLeft(this.access) > 30) return this.access;
    return this.refresh();
  }

  /** One refresh at a time (the refresh token rotates: a second concurrent refresh would be refused). */
  refresh() {
    if (!this.refreshing) {
      this.refreshing = (async () => {
        try {
          const answer = await this.request("POST", "auth/refresh", { refresh: this.refreshToken }, { auth: false });
          this.saveTokens(answer.access, answer.refresh);
          return answer.access;
        } catch (error) {
          if (error.status === 401 || error.status === 400) {
            // The refresh token expired or was revoked (a logout elsewhere, a password change).
            this.forget();
            this.dispatchEvent(new Event("expired"));
          }
          throw error;
        } finally {
          this.refreshing = null;
        }
      })();
    }
    return this.refreshing;
  }

  /** JSON in and out; ApiError with the docs/api.md error body on any non-2xx answer. An expired access token
   * is refreshed once and the request sent again. */
  async request(method, path, body = undefined, { auth = true, retried = false } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const token = auth ? await this.token() : null;
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(BASE + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
      });
    } catch (error) {
      throw new ApiError(0, "network_error", "The exchange cannot be reached. Check your connection.");
    }
    if (response.status === 401 && token && !retried) {
      this.access = null;
      await this.refresh();
      return this.request(method, path, body, { auth, retried: true });
    }
    if (response.status === 204) return null;
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      payload = null;
    }
    if (!response.ok) {
      const error = payload?.error ?? {};
      throw new ApiError(response.status, error.code ?? "http_error", error.message ?? `HTTP ${response.status}`, error.details);
    }
    return payload;
  }

  get(path) {
    return this.request("GET", path);
  }

  async login(username, password, otpCode) {
    const body = { username, password };
    if (otpCode) body.otp_code = otpCode;
    const answer = await this.request("POST", "auth/login", body, { auth: false });
    this.saveTokens(answer.access, answer.refresh);
    this.dispatchEvent(new Event("login"));
  }

  register(email, username, password) {
    return this.request("POST", "auth/register", { email, username, password }, { auth: false });
  }

  /** Revokes the refresh token on the server (best effort) and forgets both tokens here. */
  async logout() {
    try {
      // Refresh first if due: a refresh inside the request would rotate the token being revoked.
      await this.token();
      const refresh = this.refreshToken;
      if (refresh) await this.request("POST", "auth/logout", { refresh });
    } catch {
      // Logged out here whatever the server said: the tokens are gone from this browser.
    }
    this.forget();
  }
}

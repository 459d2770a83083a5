// The WebSocket `/ws/v1/` of docs/api.md, kept alive: it reconnects by itself after a drop (backoff with
// jitter), authenticates again, sends every subscription again (so each book starts from a fresh
// snapshot), and says what it is doing through `status` events.

const PING_SECONDS = 10;
// The server sends a heartbeat after 15 s of silence and we ping every 10 s: 30 s without a frame
// means the connection is dead even if the socket has not noticed.
const SILENCE_SECONDS = 30;
const MAX_BACKOFF_MS = 15000;
// A connection counts as healthy (the backoff starts again from its shortest delay) after this long:
// a server that accepts and closes at once keeps backing off.
const STABLE_MS = 10000;
const AUTH_ATTEMPTS = 5;

export class Stream extends EventTarget {
  constructor(url, api) {
    super();
    this.url = url;
    this.api = api;
    this.subscriptions = new Map(); // key -> subscribe message, in the order they were made
    this.socket = null;
    this.attempt = 0;
    this.connections = 0; // connections opened so far
    this.authenticated = false;
    this.stopped = false;
    this.timers = {};
  }

  status(state, extra = {}) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("status", { detail: { state, attempt: this.attempt, ...extra } }));
  }

  connect() {
    this.stopped = false;
    clearTimeout(this.timers.retry);
    this.status(this.attempt ? "reconnecting" : "connecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    this.authenticated = false;
    socket.onopen = () => this.opened(socket);
    socket.onmessage = (event) => this.received(socket, event);
    socket.onclose = (event) => this.closed(socket, event);
    socket.onerror = () => {}; // a close event follows
  }

  async opened(socket) {
    if (socket !== this.socket) return;
    this.connections += 1;
    this.authAttempts = 0;
    this.lastFrame = Date.now();
    this.timers.stable = setTimeout(() => (this.attempt = 0), STABLE_MS);
    this.timers.ping = setInterval(() => this.send({ op: "ping" }), PING_SECONDS * 1000);
    this.timers.watchdog = setInterval(() => {
      if (Date.now() - this.lastFrame > SILENCE_SECONDS * 1000) this.closed(socket, { code: 4001, reason: "no frames" });
    }, 1000);
    for (const [key, message] of this.subscriptions) if (!isPrivate(key)) this.send(message);
    this.status("open");
    await this.authenticate(socket);
  }

  /** Authenticates the connection when the page is logged in; private subscriptions follow the answer.
   * A failure that may pass (no token because the network blipped, `rate_limited`, `internal_error`,
   * an access token that expired in flight) is retried a few times with a growing delay. */
  async authenticate(socket) {
    if (socket !== this.socket || this.authenticated) return;
    this.authAttempts += 1;
    let token = null;
    try {
      token = await this.api.token();
    } catch (error) {
      if (this.api.loggedIn) return this.retryAuth(socket);
    }
    if (socket !== this.socket || socket.readyState !== WebSocket.OPEN) return;
    if (token) socket.send(JSON.stringify({ op: "auth", token }));
  }

  retryAuth(socket, refresh = false) {
    if (this.authAttempts >= AUTH_ATTEMPTS) {
      this.dispatchEvent(new CustomEvent("auth-failed"));
      return;
    }
    const delay = 500 * 2 ** this.authAttempts;
    this.timers.auth = setTimeout(async () => {
      if (refresh) {
        try {
          await this.api.refresh();
        } catch {
          // token() below retries, or the page learns the session expired
        }
      }
      this.authenticate(socket);
    }, delay);
  }

  received(socket, event) {
    if (socket !== this.socket) return;
    this.lastFrame = Date.now();
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.type === "authenticated") {
      this.authenticated = true;
      for (const [key, subscribe] of this.subscriptions) if (isPrivate(key)) this.send(subscribe);
    } else if (message.type === "error" && message.code === "internal_error") {
      // The server could not carry out a message now (a dependency failed): send again what is due,
      // the `auth` while not authenticated and every subscription that may go (a repeat is harmless:
      // a book answers with a fresh snapshot).
      if (!this.authenticated && this.api.loggedIn) this.retryAuth(socket);
      this.timers.resend = setTimeout(() => {
        if (socket !== this.socket) return;
        for (const [key, subscribe] of this.subscriptions) if (!isPrivate(key) || this.authenticated) this.send(subscribe);
      }, 500);
    } else if (message.type === "error" && !this.authenticated && this.api.loggedIn) {
      // An answer to our `auth`: the access token expired in flight (refresh, then again), or too many.
      if (message.code === "invalid_token") this.retryAuth(socket, true);
      else if (message.code === "rate_limited") this.retryAuth(socket);
    }
    this.dispatchEvent(new CustomEvent("message", { detail: message }));
  }

  /** The connection is gone (its close event, or silence): forget it at once and schedule the next one.
   * A dead socket's own close event can take minutes; it is ignored when it comes. */
  closed(socket, event) {
    if (socket !== this.socket) return;
    this.clearTimers();
    this.socket = null;
    if (socket.readyState === WebSocket.CONNECTING || socket.readyState === WebSocket.OPEN) socket.close();
    this.authenticated = false;
    if (this.stopped) {
      this.status("closed");
      return;
    }
    this.attempt += 1;
    const backoff = Math.min(MAX_BACKOFF_MS, 500 * 2 ** (this.attempt - 1));
    const delay = Math.round(backoff / 2 + Math.random() * (backoff / 2));
    this.status("reconnecting", { delay, code: event.code, reason: event.reason });
    this.timers.retry = setTimeout(() => this.connect(), delay);
  }

  /** The browser is back online: a connection waiting for its retry connects now. */
  retryNow() {
    if (!this.socket && !this.stopped) this.connect();
  }

  /** After a login: authenticate the open connection (private subscriptions follow). */
  login() {
    if (this.socket && this.socket.readyState === WebSocket.OPEN && !this.authenticated) this.authenticate(this.socket);
  }

  /** After a logout: the connection acts as the user until it closes, so a new one replaces it now. */
  restart() {
    const socket = this.socket;
    this.socket = null;
    this.clearTimers();
    clearTimeout(this.timers.retry);
    if (socket) socket.close(1000, "logout");
    this.attempt = 0;
    this.connect();
  }

  clearTimers() {
    clearInterval(this.timers.ping);
    clearInterval(this.timers.watchdog);
    clearTimeout(this.timers.stable);
    clearTimeout(this.timers.auth);
    clearTimeout(this.timers.resend);
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  subscribe(key, message) {
    this.subscriptions.set(key, message);
    if (!isPrivate(key) || this.authenticated) this.send(message);
  }

  /** Sends a subscription again: for a book, a fresh snapshot. */
  resubscribe(key) {
    const message = this.subscriptions.get(key);
    if (message) this.send(message);
  }

  unsubscribe(key) {
    const message = this.subscriptions.get(key);
    if (!message) return;
    this.subscriptions.delete(key);
    const { channel, symbol } = message;
    this.send(symbol ? { op: "unsubscribe", channel, symbol } : { op: "unsubscribe", channel });
  }
}

const isPrivate = (key) => key === "orders";

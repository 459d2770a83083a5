// The trading page: market data for everyone, orders, fills, balances and portfolio for a logged-in
// trader. Only the public REST API and the WebSocket stream of API.md; everything live comes from the
// stream, and REST fills the gaps after each (re)connection.
import { Api, ApiError } from "./api.js";
import { BookError, OrderBook, withCumulative } from "./book.js";
import { CandleChart, PortfolioChart, drawDepth } from "./charts.js";
import { fromUnits, scaleOf, toUnits, trim } from "./decimal.js";
import { bindOrderForm } from "./order-form.js";
import { Stream } from "./stream.js";

const $ = (id) => document.getElementById(id);
const BOOK_DEPTH = 50;
const BOOK_ROWS = 12;
const TAPE_ROWS = 40;
const FILL_ROWS = 50;
const FINAL = new Set(["filled", "cancelled", "rejected", "expired"]);

const api = new Api();
const stream = new Stream(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/v1/`, api);
const state = {
  markets: new Map(),
  symbol: null,
  market: null,
  book: null,
  interval: "1m",
  tape: [],
  orders: new Map(), // open orders by id
  orderVersions: new Map(), // id -> latest updated_at seen (open or final)
  fills: new Map(), // `${id}:${side}` -> fill
  balances: new Map(),
  balanceWrites: new Map(), // currency -> stream message counter when it last changed
  streamCounter: 0,
  account: null,
  session: 0, // grows at each login and logout: an answer for an earlier session is dropped
};
// For people (and tests) looking at the page from the console.
window.exchange = { api, stream, state };

// -- small DOM helpers ---------------------------------------------------------------------------------

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text ?? "—";
  if (className) td.className = className;
  return td;
}

function row(...cells) {
  const tr = document.createElement("tr");
  tr.append(...cells);
  return tr;
}

const timeOf = (iso) => new Date(iso).toLocaleTimeString([], { hour12: false });
const dateTimeOf = (iso) => new Date(iso).toLocaleString([], { hour12: false });
const label = (text) => text.charAt(0).toUpperCase() + text.slice(1).replace(/_/g, " ");

let renderQueued = new Set();
function render(part) {
  if (!renderQueued.size) requestAnimationFrame(flushRender);
  renderQueued.add(part);
}
function flushRender() {
  const parts = renderQueued;
  renderQueued = new Set();
  for (const part of parts) RENDERERS[part]();
}

// -- connection status -------------------------------------------------------------------------------

stream.addEventListener("status", (event) => {
  const { state: connection, attempt, delay } = event.detail;
  const status = $("connection");
  status.dataset.state = connection;
  document.body.classList.toggle("stale", connection !== "open");
  if (connection === "open") {
    status.textContent = "Live";
    // A new connection: every book starts again from its snapshot, and REST fills what the stream missed.
    if (state.book) state.book.reset();
    markBook("waiting", "Waiting for the book…");
    render("book");
    if (state.connectedBefore && state.symbol) loadMarketData(state.symbol);
    state.connectedBefore = true;
  } else if (connection === "reconnecting") {
    const seconds = delay ? ` in ${Math.ceil(delay / 1000)} s` : "";
    status.textContent = `Connection lost. Reconnecting${seconds} (attempt ${attempt})…`;
    markBook("stale", "Connection lost: this book is not live. Reconnecting…");
  } else if (connection === "connecting") {
    status.textContent = "Connecting…";
  } else {
    status.textContent = "Disconnected";
  }
});
window.addEventListener("online", () => stream.retryNow());
stream.addEventListener("auth-failed", () => {
  $("orders-error").textContent =
    "Your orders, fills and balances are not updating live: the stream could not authenticate. Reload the page to try again.";
});

stream.addEventListener("message", (event) => {
  const message = event.detail;
  if (message.type === "status") return onMarketStatus(message);
  switch (message.channel) {
    case "book":
      return onBook(message);
    case "trades":
      return message.type === "trade" ? onTrade(message) : undefined;
    case "ticker":
      return message.type === "ticker" ? onTicker(message) : undefined;
    case "orders":
      return onPrivate(message);
    default:
      if (message.type === "error") onStreamError(message);
  }
});

function onStreamError(message) {
  if (message.code === "authentication_revoked") {
    api.forget();
    loggedOut("Your session ended (logged out elsewhere, or the password changed). Log in again.");
  } else if (message.code === "invalid_token" && !api.loggedIn) {
    loggedOut("Your session expired. Log in again.");
  }
}

// -- markets ------------------------------------------------------------------------------------------

async function loadMarkets() {
  const markets = await api.request("GET", "markets", undefined, { auth: false });
  const select = $("market-select");
  select.replaceChildren();
  for (const market of markets) {
    state.markets.set(market.symbol, market);
    const option = document.createElement("option");
    option.value = market.symbol;
    option.textContent = market.symbol;
    select.appendChild(option);
  }
  const wanted = select.dataset.initial || sessionStorage.getItem("exchange.market");
  return state.markets.has(wanted) ? wanted : markets[0]?.symbol;
}

function selectMarket(symbol) {
  if (state.symbol) {
    for (const channel of ["book", "trades", "ticker"]) stream.unsubscribe(`${channel}:${state.symbol}`);
  }
  state.symbol = symbol;
  state.market = state.markets.get(symbol);
  state.priceScale = scaleOf(state.market.tick_size);
  state.quantityScale = scaleOf(state.market.lot_size);
  state.book = new OrderBook(symbol);
  state.tape = [];
  $("market-select").value = symbol;
  sessionStorage.setItem("exchange.market", symbol);
  if (location.pathname !== `/trade/${symbol}`) history.replaceState(null, "", `/trade/${symbol}`);
  document.title = `${symbol} · Exchange`;
  $("ticker-symbol").textContent = symbol;
  showHalt(state.market.status === "halted" ? state.market : null);
  for (const unit of document.querySelectorAll("[data-unit]")) unit.textContent = `(${state.market[unit.dataset.unit]})`;
  orderForm.market(state.market);
  markBook("waiting", "Waiting for the book…");
  render("book");
  render("tape");
  render("orders");
  stream.subscribe(`book:${symbol}`, { op: "subscribe", channel: "book", symbol, depth: BOOK_DEPTH });
  stream.subscribe(`trades:${symbol}`, { op: "subscribe", channel: "trades", symbol });
  stream.subscribe(`ticker:${symbol}`, { op: "subscribe", channel: "ticker", symbol });
  loadMarketData(symbol);
}

/** REST for what the stream does not replay: recent trades, candles and the ticker. */
async function loadMarketData(symbol) {
  const path = `markets/${encodeURIComponent(symbol)}`;
  const [trades, , ticker] = await Promise.allSettled([
    api.request("GET", `${path}/trades?limit=${TAPE_ROWS}`, undefined, { auth: false }),
    loadCandles(symbol, state.interval),
    api.request("GET", `${path}/ticker`, undefined, { auth: false }),
  ]);
  if (symbol !== state.symbol) return;
  if (trades.status === "fulfilled") {
    for (const trade of trades.value) addToTape(trade);
    render("tape");
  }
  if (ticker.status === "fulfilled") onTicker(ticker.value);
}

/** The candles of one interval. Stream trades are not folded in while the request is out: the answer
 * may already count them (a trade that arrives just then can be missing from the current candle
 * until the next load, never counted twice). */
async function loadCandles(symbol, interval) {
  const request = (state.candleRequest = {});
  try {
    const rows = await api.request("GET", `markets/${encodeURIComponent(symbol)}/candles?interval=${interval}&limit=300`,
      undefined, { auth: false });
    if (request === state.candleRequest && symbol === state.symbol && interval === state.interval) {
      candleChart.load(rows, interval, state.priceScale);
    }
  } finally {
    if (request === state.candleRequest) state.candleRequest = null;
  }
}

// -- order book ---------------------------------------------------------------------------------------

function markBook(checksum, text) {
  $("book").dataset.checksum = checksum;
  $("book-state").textContent = text;
}

function onBook(message) {
  const book = state.book;
  if (!book || message.symbol !== state.symbol) return;
  if (message.type !== "snapshot" && message.type !== "update") return;
  if (message.type === "update" && book.sequence === null) return; // left over from before a resubscription
  try {
    book.apply(message);
  } catch (error) {
    if (!(error instanceof BookError)) throw error;
    markBook("resyncing", `Book out of step (${error.message}): fetching a fresh snapshot…`);
    stream.resubscribe(`book:${state.symbol}`);
    return;
  }
  $("book").dataset.sequence = String(book.sequence);
  markBook("verified", `Checksum verified at sequence ${book.sequence}`);
  render("book");
}

function renderBook() {
  const { bids, asks } = state.book ? state.book.levels() : { bids: [], asks: [] };
  const scale = state.quantityScale ?? 0;
  const bidRows = withCumulative(bids.slice(0, BOOK_ROWS), scale);
  const askRows = withCumulative(asks.slice(0, BOOK_ROWS), scale);
  const most = Math.max(+(bidRows.at(-1)?.[2] ?? 0), +(askRows.at(-1)?.[2] ?? 0)) || 1;
  const levelRow = ([price, quantity, cumulative], side) => {
    const tr = row(cell(price, "price"), cell(quantity), cell(cumulative, "muted"));
    tr.className = side;
    tr.dataset.price = price;
    tr.title = `Use ${price} as the order price`;
    tr.style.setProperty("--depth", `${((+cumulative / most) * 100).toFixed(1)}%`);
    return tr;
  };
  $("book-asks").replaceChildren(...askRows.map((level) => levelRow(level, "ask")).reverse());
  $("book-bids").replaceChildren(...bidRows.map((level) => levelRow(level, "bid")));
  const spread = $("book-spread");
  if (bids.length && asks.length) {
    const units = toUnits(asks[0][0], state.priceScale) - toUnits(bids[0][0], state.priceScale);
    spread.textContent = `Spread ${fromUnits(units, state.priceScale)}`;
  } else {
    spread.textContent = bids.length || asks.length ? "One-sided book" : "No orders";
  }
  drawDepth($("depth-chart"), withCumulative(bids, scale), withCumulative(asks, scale));
}

// -- trades tape and ticker ----------------------------------------------------------------------------

function addToTape(trade) {
  if (state.tape.some((t) => t.id === trade.id)) return false;
  state.tape.push({ id: trade.id, price: trade.price, quantity: trade.quantity, taker_side: trade.taker_side, time: trade.time });
  state.tape.sort((a, b) => b.id - a.id);
  state.tape.length = Math.min(state.tape.length, TAPE_ROWS);
  return true;
}

function onTrade(trade) {
  if (trade.symbol !== state.symbol) return;
  if (addToTape(trade) && !state.candleRequest) candleChart.addTrade(trade);
  render("tape");
}

function renderTape() {
  $("tape").replaceChildren(
    ...state.tape.map((t) => {
      const tr = row(cell(t.price, `price ${t.taker_side}`), cell(t.quantity), cell(timeOf(t.time), "muted"));
      tr.dataset.tradeId = t.id;
      return tr;
    }),
  );
}

function onTicker(ticker) {
  if (ticker.symbol !== state.symbol) return;
  $("ticker-last").textContent = ticker.last ?? "—";
  const change = ticker.change_24h;
  const changeCell = $("ticker-change");
  changeCell.textContent = change === null || change === undefined ? "—" : `${change.startsWith("-") ? "" : "+"}${change} %`;
  changeCell.className = change?.startsWith("-") ? "sell" : "buy";
  $("ticker-high").textContent = ticker.high_24h ?? "—";
  $("ticker-low").textContent = ticker.low_24h ?? "—";
  $("ticker-volume").textContent = `${trim(ticker.volume_24h)} ${state.market.base}`;
  if (ticker.status) {
    $("ticker-status").textContent = label(ticker.status);
    if (ticker.status === "trading") showHalt(null);
  }
}

function onMarketStatus(message) {
  if (message.symbol !== state.symbol) return;
  state.market.status = message.status;
  $("ticker-status").textContent = label(message.status);
  showHalt(message.status === "halted" ? { halt_reason: message.reason, resumes_at: message.resumes_at } : null);
}

function showHalt(halt) {
  const banner = $("halt-banner");
  banner.hidden = !halt;
  if (!halt) return;
  const reason = halt.halt_reason ? ` (${label(halt.halt_reason)})` : "";
  const resumes = halt.resumes_at ? ` Trading resumes at ${dateTimeOf(halt.resumes_at)}.` : "";
  banner.textContent = `Trading in ${state.symbol} is halted${reason}: new orders are refused, cancels still work.${resumes}`;
}

// -- private data: orders, fills, balances, portfolio ---------------------------------------------------

function onPrivate(message) {
  if (message.type === "subscribed") return loadPrivate();
  if (message.type === "order") upsertOrder(message.order);
  else if (message.type === "fill") {
    addFill(message.trade);
    refreshSoon("balances", loadBalances, 1500);
    refreshSoon("portfolio", loadPortfolio, 2000);
  } else if (message.type === "balance") {
    state.streamCounter += 1;
    state.balances.set(message.currency, { currency: message.currency, available: message.available, locked: message.locked });
    state.balanceWrites.set(message.currency, state.streamCounter);
    render("balances");
  }
}

/** Keeps the newest version of each order: REST answers can be older than what the stream already said. */
function upsertOrder(order) {
  const seen = state.orderVersions.get(order.id);
  if (seen && (seen.updated_at > order.updated_at || (seen.updated_at === order.updated_at && seen.final))) return;
  const final = FINAL.has(order.status);
  state.orderVersions.set(order.id, { updated_at: order.updated_at, final });
  if (final) state.orders.delete(order.id);
  else state.orders.set(order.id, order);
  render("orders");
}

function addFill(fill) {
  state.fills.set(`${fill.id}:${fill.side}`, fill);
  render("fills");
}

const refreshTimers = {};
function refreshSoon(name, load, ms) {
  clearTimeout(refreshTimers[name]);
  refreshTimers[name] = setTimeout(() => load().catch(() => {}), ms); // the next fill or reconnection reloads
}

/** After the `orders` subscription is confirmed (each connection): REST has everything up to now, the
 * stream everything after. */
async function loadPrivate() {
  await Promise.allSettled([loadOrders(), loadFills(), loadBalances(), loadPortfolio(), loadAccount()]);
}

/** GET for the logged-in trader; null when the session changed while it was out (a logout, another login). */
async function privateGet(path) {
  const session = state.session;
  const answer = await api.get(path);
  return session === state.session && api.loggedIn ? answer : null;
}

async function loadOrders() {
  const page = await privateGet("orders?status=open&limit=200");
  if (!page) return;
  const open = new Set(page.results.map((order) => order.id));
  for (const order of page.results) upsertOrder(order);
  // Orders we still show as open but REST no longer lists closed while we were away.
  for (const id of [...state.orders.keys()]) {
    if (!open.has(id)) refreshOrder(id);
  }
}

async function refreshOrder(id) {
  try {
    const order = await privateGet(`orders/${id}`);
    if (order) upsertOrder(order);
  } catch (error) {
    if (error.status === 404) {
      state.orders.delete(id);
      render("orders");
    }
  }
}

async function loadFills() {
  const page = await privateGet(`trades?limit=${FILL_ROWS}`);
  if (!page) return;
  for (const fill of page.results) addFill(fill);
}

async function loadBalances() {
  const since = state.streamCounter;
  const balances = await privateGet("wallets");
  if (!balances) return;
  for (const balance of balances) {
    // A stream message that arrived while this request was out is at least as new as the answer.
    if ((state.balanceWrites.get(balance.currency) ?? 0) > since) continue;
    state.balances.set(balance.currency, balance);
  }
  render("balances");
}

async function loadPortfolio() {
  const [portfolio, history] = await Promise.all([privateGet("portfolio"), privateGet("portfolio/history?limit=365")]);
  if (!portfolio || !history) return;
  state.portfolio = portfolio;
  state.portfolioHistory = history.results;
  render("portfolio");
}

async function loadAccount() {
  const account = await privateGet("account");
  if (!account) return;
  state.account = account;
  const name = $("user-name");
  name.textContent = state.account.username;
  name.hidden = false;
}

function renderOrders() {
  const focused = document.activeElement?.dataset?.cancel;
  const orders = [...state.orders.values()].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  $("open-orders").replaceChildren(
    ...orders.map((order) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary small";
      button.textContent = order.cancelling ? "Cancelling…" : "Cancel";
      button.disabled = Boolean(order.cancelling);
      button.setAttribute("aria-label", `Cancel ${order.side} ${order.quantity} ${order.symbol} at ${order.price ?? "market"}`);
      button.dataset.cancel = String(order.id);
      button.addEventListener("click", () => cancelOrder(order.id));
      const tr = row(
        cell(order.symbol), cell(label(order.side), order.side), cell(label(order.type)), cell(order.price ?? "Market"),
        cell(order.quantity), cell(order.filled_quantity), cell(label(order.status)),
      );
      const action = document.createElement("td");
      action.appendChild(button);
      tr.appendChild(action);
      tr.dataset.orderId = order.id;
      return tr;
    }),
  );
  // The rows are rebuilt: keyboard focus stays on the same order's button.
  if (focused) document.querySelector(`[data-cancel="${focused}"]`)?.focus();
  $("cancel-all").hidden = !api.loggedIn || ![...state.orders.values()].some((o) => o.symbol === state.symbol);
}

async function cancelOrder(id) {
  const order = state.orders.get(id);
  if (!order) return;
  $("orders-error").textContent = "";
  order.cancelling = true;
  render("orders");
  try {
    upsertOrder({ ...(await api.request("DELETE", `orders/${id}`)), cancelling: true });
  } catch (error) {
    order.cancelling = false;
    if (error.code === "order_closed" || error.status === 404) refreshOrder(id);
    else $("orders-error").textContent = error.message;
    render("orders");
  }
}

async function cancelAll() {
  $("orders-error").textContent = "";
  try {
    await api.request("DELETE", `orders?symbol=${encodeURIComponent(state.symbol)}`);
    for (const order of state.orders.values()) if (order.symbol === state.symbol) order.cancelling = true;
    render("orders");
  } catch (error) {
    $("orders-error").textContent = error.message;
  }
}

function renderFills() {
  const fills = [...state.fills.values()].sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : b.id - a.id));
  $("fills").replaceChildren(
    ...fills.slice(0, FILL_ROWS).map((fill) => {
      const tr = row(
        cell(dateTimeOf(fill.time), "muted"), cell(fill.symbol), cell(label(fill.side), fill.side), cell(fill.price),
        cell(fill.quantity), cell(`${fill.fee} ${fill.fee_currency}`), cell(label(fill.liquidity)),
      );
      tr.dataset.tradeId = fill.id;
      return tr;
    }),
  );
}

function renderBalances() {
  const balances = [...state.balances.values()].sort((a, b) => a.currency.localeCompare(b.currency));
  $("balances").replaceChildren(
    ...balances.map((b) => {
      // Exact amounts without the trailing zeros of the currency's precision (ETH has 18 places).
      const tr = row(cell(b.currency), cell(trim(b.available, 2)), cell(trim(b.locked, 2), "muted"));
      tr.dataset.currency = b.currency;
      return tr;
    }),
  );
  orderForm.balances(state.balances);
}

function renderPortfolio() {
  const portfolio = state.portfolio;
  if (!portfolio) {
    for (const id of ["portfolio-total", "portfolio-unrealized", "portfolio-realized"]) $(id).textContent = "—";
    $("portfolio-assets").replaceChildren();
    portfolioChart.load([], null);
    return;
  }
  const currency = portfolio.valuation_currency;
  $("portfolio-total").textContent = `${portfolio.total_value} ${currency}`;
  $("portfolio-unrealized").textContent = portfolio.unrealized_pnl ?? "—";
  $("portfolio-realized").textContent = portfolio.realized_pnl ?? "—";
  $("portfolio-assets").replaceChildren(
    ...portfolio.assets.map((a) =>
      row(
        cell(a.currency), cell(trim(a.total, 2)), cell(trim(a.average_cost, 2)), cell(trim(a.price, 2)),
        cell(trim(a.value, 2)), cell(trim(a.unrealized_pnl, 2)), cell(trim(a.realized_pnl, 2)),
      ),
    ),
  );
  portfolioChart.load(state.portfolioHistory ?? [], portfolio.total_value);
}

const RENDERERS = {
  book: renderBook, tape: renderTape, orders: renderOrders, fills: renderFills, balances: renderBalances,
  portfolio: renderPortfolio,
};

// -- log in, register, log out ------------------------------------------------------------------------

const dialogs = { login: $("login-dialog"), register: $("register-dialog") };

function openAuth(which) {
  const dialog = dialogs[which];
  for (const error of dialog.querySelectorAll(".field-error")) error.textContent = "";
  if (!dialog.open) dialog.showModal();
  dialog.querySelector("input").focus();
}

$("login-button").addEventListener("click", () => openAuth("login"));
$("register-button").addEventListener("click", () => openAuth("register"));
$("order-login-hint").addEventListener("click", () => openAuth("login"));
for (const dialog of Object.values(dialogs)) {
  for (const button of dialog.querySelectorAll("[data-close]")) button.addEventListener("click", () => dialog.close());
}
$("logout-button").addEventListener("click", async () => {
  await api.logout();
  loggedOut();
});
$("cancel-all").addEventListener("click", cancelAll);

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $("login-error");
  error.textContent = "";
  const submit = $("login-submit");
  submit.disabled = true;
  try {
    await api.login(form.username.value.trim(), form.password.value, form.otp_code.value.trim() || undefined);
    form.reset();
    $("login-otp-field").hidden = true;
    dialogs.login.close();
    loggedIn();
  } catch (failure) {
    if (!(failure instanceof ApiError)) throw failure;
    if (failure.code === "otp_required") {
      $("login-otp-field").hidden = false;
      $("login-otp").focus();
      error.textContent = "Two-factor authentication is on: enter the code from your authenticator app.";
    } else {
      error.textContent = failure.message + detailText(failure);
    }
  } finally {
    submit.disabled = false;
  }
});

$("register-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  for (const error of form.querySelectorAll(".field-error")) error.textContent = "";
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  const submit = $("register-submit");
  submit.disabled = true;
  try {
    const [email, username, password] = [form.email.value.trim(), form.username.value.trim(), form.password.value];
    await api.register(email, username, password);
    await api.login(username, password);
    form.reset();
    dialogs.register.close();
    loggedIn();
  } catch (failure) {
    if (!(failure instanceof ApiError)) throw failure;
    let shown = false;
    for (const [field, messages] of Object.entries(failure.details ?? {})) {
      const target = $(`register-${field}-error`);
      if (target) {
        target.textContent = [].concat(messages).join(" ");
        $(`register-${field}`).setAttribute("aria-invalid", "true");
        shown = true;
      }
    }
    if (!shown) $("register-error").textContent = failure.message;
  } finally {
    submit.disabled = false;
  }
});

function detailText(error) {
  const retry = error.details?.retry_after;
  return retry ? ` Try again in ${retry} s.` : "";
}

function showPrivate(visible) {
  for (const element of document.querySelectorAll(".private")) element.hidden = !visible;
  for (const element of document.querySelectorAll(".private-hint")) element.hidden = visible;
  $("login-button").hidden = visible;
  $("register-button").hidden = visible;
  $("logout-button").hidden = !visible;
  $("user-name").hidden = !visible || !state.account;
  orderForm.loggedIn(visible);
}

function loggedIn() {
  state.session += 1;
  showPrivate(true);
  stream.subscribe("orders", { op: "subscribe", channel: "orders" });
  stream.login();
}

function loggedOut(message) {
  state.session += 1;
  for (const timer of Object.values(refreshTimers)) clearTimeout(timer);
  stream.unsubscribe("orders");
  stream.restart();
  state.orders.clear();
  state.orderVersions.clear();
  state.fills.clear();
  state.balances.clear();
  state.account = state.portfolio = state.portfolioHistory = null;
  $("user-name").textContent = "";
  for (const part of ["orders", "fills", "balances", "portfolio"]) render(part);
  showPrivate(false);
  if (message) {
    openAuth("login");
    $("login-error").textContent = message;
  }
}
api.addEventListener("expired", () => loggedOut("Your session expired. Log in again."));

// -- the order form ------------------------------------------------------------------------------------

const orderForm = bindOrderForm({
  form: $("order-form"),
  api,
  symbol: () => state.symbol,
  onPlaced(order) {
    upsertOrder(order);
    refreshSoon("balances", loadBalances, 0);
  },
});

for (const tbody of [$("book-asks"), $("book-bids")]) {
  tbody.addEventListener("click", (event) => {
    const level = event.target.closest("tr[data-price]");
    if (level) orderForm.usePrice(level.dataset.price);
  });
}

for (const button of document.querySelectorAll("[data-interval]")) {
  button.addEventListener("click", async () => {
    state.interval = button.dataset.interval;
    for (const other of document.querySelectorAll("[data-interval]")) other.setAttribute("aria-pressed", String(other === button));
    try {
      await loadCandles(state.symbol, state.interval);
    } catch (error) {
      $("book-state").textContent = `Candles could not be loaded: ${error.message}`;
    }
  });
}

// -- start --------------------------------------------------------------------------------------------

const candleChart = new CandleChart($("candle-chart"));
const portfolioChart = new PortfolioChart($("portfolio-chart"));

async function start() {
  showPrivate(api.loggedIn);
  if (api.loggedIn) stream.subscribe("orders", { op: "subscribe", channel: "orders" });
  let symbol;
  try {
    symbol = await loadMarkets();
  } catch (error) {
    $("book-state").textContent = `Markets could not be loaded: ${error.message} Reload to try again.`;
    return;
  }
  $("market-select").addEventListener("change", (event) => selectMarket(event.target.value));
  if (symbol) selectMarket(symbol);
  else $("book-state").textContent = "No market is listed yet.";
  stream.connect();
  document.body.dataset.ready = "true";
}

start();

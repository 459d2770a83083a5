// The trading page: market data for everyone, orders, fills, balances and portfolio for a logged-in
// trader. Only the public REST API and the WebSocket stream of docs/api.md; everything live comes from the
// stream, and REST fills the gaps after each (re)connection.
import { Account } from "./account.js";
import { Api } from "./api.js";
import { bindAuthDialogs } from "./auth.js";
import { BookError, OrderBook, withCumulative } from "./book.js";
import { CandleChart, drawDepth } from "./charts.js";
import { fromUnits, scaleOf, toUnits, trim } from "./decimal.js";
import { $, cell, dateTimeOf, frameRenderer, label, row, timeOf } from "./dom.js";
import { bindOrderForm } from "./order-form.js";
import { Stream } from "./stream.js";

const BOOK_DEPTH = 50;
const BOOK_ROWS = 12;
const TAPE_ROWS = 40;

const api = new Api();
// The server says where its stream is (the stream process, apps/core/stream.py); the page's own
// origin when it does not.
const streamUrl = document.querySelector('meta[name="stream-url"]')?.content
  || `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/v1/`;
const stream = new Stream(streamUrl, api);
const state = { markets: new Map(), symbol: null, market: null, book: null, interval: "1m", tape: [] };
const render = frameRenderer({ book: renderBook, tape: renderTape });
const candleChart = new CandleChart($("candle-chart"));
const orderForm = bindOrderForm({ form: $("order-form"), api, symbol: () => state.symbol, onPlaced: (o) => account.placed(o) });
const account = new Account({ api, symbol: () => state.symbol, onBalances: (balances) => orderForm.balances(balances) });
const auth = bindAuthDialogs({ api, onLoggedIn: loggedIn });
// For people (and tests) looking at the page from the console.
window.exchange = { api, stream, state, account };

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
      return account.onMessage(message);
    default:
      if (message.type === "error") onStreamError(message);
  }
});

function onStreamError(message) {
  if (message.code === "authentication_revoked") {
    api.forget();
    loggedOut("Your session ended (logged out elsewhere, or the password changed). Log in again.");
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
  account.render("orders"); // "cancel all" is per market
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
      $("chart-state").textContent = "";
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

// -- log in, log out ----------------------------------------------------------------------------------

$("login-button").addEventListener("click", () => auth.open("login"));
$("register-button").addEventListener("click", () => auth.open("register"));
$("order-login-hint").addEventListener("click", () => auth.open("login"));
$("logout-button").addEventListener("click", async () => {
  await api.logout();
  loggedOut();
});
api.addEventListener("expired", () => loggedOut("Your session expired. Log in again."));

function showPrivate(visible) {
  for (const element of document.querySelectorAll(".private")) element.hidden = !visible;
  for (const element of document.querySelectorAll(".private-hint")) element.hidden = visible;
  $("login-button").hidden = visible;
  $("register-button").hidden = visible;
  $("logout-button").hidden = !visible;
  $("user-name").hidden = !visible || !account.profile;
  orderForm.loggedIn(visible);
}

function loggedIn() {
  account.start();
  showPrivate(true);
  stream.subscribe("orders", { op: "subscribe", channel: "orders" });
  stream.login();
}

function loggedOut(message) {
  account.start();
  stream.unsubscribe("orders");
  stream.restart();
  $("user-name").textContent = "";
  showPrivate(false);
  if (message) auth.open("login", message);
}

// -- the order form ------------------------------------------------------------------------------------

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
      $("chart-state").textContent = `Candles could not be loaded: ${error.message}`;
    }
  });
}

// -- start --------------------------------------------------------------------------------------------

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

// The logged-in trader's side of the page: open orders (with cancel), fills, balances and portfolio.
// REST reads everything after the private `orders` subscription is confirmed; the stream sends the
// changes. Each piece keeps the newest version it has seen, whichever path it came by.
import { PortfolioChart } from "./charts.js";
import { trim } from "./decimal.js";
import { $, cell, dateTimeOf, frameRenderer, label, row } from "./dom.js";

const FILL_ROWS = 50;
const FINAL = new Set(["filled", "cancelled", "rejected", "expired"]);

export class Account {
  /** `symbol()` is the market on screen (for "cancel all"); `onBalances(map)` tells the order form. */
  constructor({ api, symbol, onBalances }) {
    this.api = api;
    this.symbol = symbol;
    this.onBalances = onBalances;
    this.session = 0; // grows at each login and logout: an answer for an earlier session is dropped
    this.timers = {};
    this.portfolioChart = new PortfolioChart($("portfolio-chart"));
    this.render = frameRenderer({
      orders: () => this.renderOrders(),
      fills: () => this.renderFills(),
      balances: () => this.renderBalances(),
      portfolio: () => this.renderPortfolio(),
    });
    this.reset();
    $("cancel-all").addEventListener("click", () => this.cancelAll());
  }

  reset() {
    this.orders = new Map(); // open orders by id
    this.orderVersions = new Map(); // id -> {updated_at, final} of the newest version seen
    this.fills = new Map(); // `${id}:${side}` -> fill
    this.balances = new Map();
    this.balanceWrites = new Map(); // currency -> stream counter when the stream last set it
    this.streamCounter = 0;
    this.profile = this.portfolio = this.portfolioHistory = null;
  }

  /** A new session (login or logout): nothing of the previous one may land on screen after this. */
  start() {
    this.session += 1;
    for (const timer of Object.values(this.timers)) clearTimeout(timer);
    this.reset();
    for (const part of ["orders", "fills", "balances", "portfolio"]) this.render(part);
  }

  /** A message of the private `orders` channel. */
  onMessage(message) {
    if (message.type === "subscribed") return this.load();
    if (message.type === "order") this.upsertOrder(message.order);
    else if (message.type === "fill") {
      this.fills.set(`${message.trade.id}:${message.trade.side}`, message.trade);
      this.render("fills");
      this.refreshSoon("balances", () => this.loadBalances(), 1500);
      this.refreshSoon("portfolio", () => this.loadPortfolio(), 2000);
    } else if (message.type === "balance") {
      this.streamCounter += 1;
      const { currency, available, locked } = message;
      this.balances.set(currency, { currency, available, locked });
      this.balanceWrites.set(currency, this.streamCounter);
      this.render("balances");
    }
  }

  /** The answer of POST /orders. A placement's hold has no stream message: the balances are re-read. */
  placed(order) {
    this.upsertOrder(order);
    this.refreshSoon("balances", () => this.loadBalances(), 0);
  }

  /** Keeps the newest version of each order: REST answers can be older than what the stream already said. */
  upsertOrder(order) {
    const seen = this.orderVersions.get(order.id);
    if (seen && (seen.updated_at > order.updated_at || (seen.updated_at === order.updated_at && seen.final))) return;
    const final = FINAL.has(order.status);
    this.orderVersions.set(order.id, { updated_at: order.updated_at, final });
    if (final) this.orders.delete(order.id);
    else this.orders.set(order.id, order);
    this.render("orders");
  }

  refreshSoon(name, load, ms) {
    clearTimeout(this.timers[name]);
    this.timers[name] = setTimeout(() => load().catch(() => {}), ms); // the next fill or reconnection reloads
  }

  /** After the `orders` subscription is confirmed (each connection): REST has everything up to now, the
   * stream everything after. */
  async load() {
    await Promise.allSettled([
      this.loadOrders(), this.loadFills(), this.loadBalances(), this.loadPortfolio(), this.loadProfile(),
    ]);
  }

  /** GET for the logged-in trader; null when the session changed while it was out (a logout, another login). */
  async get(path) {
    const session = this.session;
    const answer = await this.api.get(path);
    return session === this.session && this.api.loggedIn ? answer : null;
  }

  async loadOrders() {
    const page = await this.get("orders?status=open&limit=200");
    if (!page) return;
    const open = new Set(page.results.map((order) => order.id));
    for (const order of page.results) this.upsertOrder(order);
    // Orders still shown as open that REST no longer lists ended while the page was away.
    for (const id of [...this.orders.keys()]) if (!open.has(id)) this.refreshOrder(id);
  }

  async refreshOrder(id) {
    try {
      const order = await this.get(`orders/${id}`);
      if (order) this.upsertOrder(order);
    } catch (error) {
      if (error.status === 404) {
        this.orders.delete(id);
        this.render("orders");
      }
    }
  }

  async loadFills() {
    const page = await this.get(`trades?limit=${FILL_ROWS}`);
    if (!page) return;
    for (const fill of page.results) this.fills.set(`${fill.id}:${fill.side}`, fill);
    this.render("fills");
  }

  async loadBalances() {
    const since = this.streamCounter;
    const balances = await this.get("wallets");
    if (!balances) return;
    for (const balance of balances) {
      // A stream message that arrived while this request was out is at least as new as the answer.
      if ((this.balanceWrites.get(balance.currency) ?? 0) > since) continue;
      this.balances.set(balance.currency, balance);
    }
    this.render("balances");
  }

  async loadPortfolio() {
    const [portfolio, history] = await Promise.all([this.get("portfolio"), this.get("portfolio/history?limit=365")]);
    if (!portfolio || !history) return;
    this.portfolio = portfolio;
    this.portfolioHistory = history.results;
    this.render("portfolio");
  }

  async loadProfile() {
    const profile = await this.get("account");
    if (!profile) return;
    this.profile = profile;
    const name = $("user-name");
    name.textContent = profile.username;
    name.hidden = false;
  }

  async cancel(id) {
    const order = this.orders.get(id);
    if (!order) return;
    $("orders-error").textContent = "";
    order.cancelling = true;
    this.render("orders");
    try {
      this.upsertOrder({ ...(await this.api.request("DELETE", `orders/${id}`)), cancelling: true });
    } catch (error) {
      order.cancelling = false;
      if (error.code === "order_closed" || error.status === 404) this.refreshOrder(id);
      else $("orders-error").textContent = error.message;
      this.render("orders");
    }
  }

  async cancelAll() {
    const symbol = this.symbol();
    $("orders-error").textContent = "";
    try {
      await this.api.request("DELETE", `orders?symbol=${encodeURIComponent(symbol)}`);
      for (const order of this.orders.values()) if (order.symbol === symbol) order.cancelling = true;
      this.render("orders");
    } catch (error) {
      $("orders-error").textContent = error.message;
    }
  }

  renderOrders() {
    const focused = document.activeElement?.dataset?.cancel;
    const orders = [...this.orders.values()].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    $("open-orders").replaceChildren(
      ...orders.map((order) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "secondary small";
        button.textContent = order.cancelling ? "Cancelling…" : "Cancel";
        button.disabled = Boolean(order.cancelling);
        button.setAttribute("aria-label", `Cancel ${order.side} ${order.quantity} ${order.symbol} at ${order.price ?? "market"}`);
        button.dataset.cancel = String(order.id);
        button.addEventListener("click", () => this.cancel(order.id));
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
    const symbol = this.symbol();
    $("cancel-all").hidden = !this.api.loggedIn || ![...this.orders.values()].some((o) => o.symbol === symbol);
  }

  renderFills() {
    const fills = [...this.fills.values()].sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : b.id - a.id));
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

  renderBalances() {
    const balances = [...this.balances.values()].sort((a, b) => a.currency.localeCompare(b.currency));
    $("balances").replaceChildren(
      ...balances.map((b) => {
        // Exact amounts without the trailing zeros of the currency's precision (ETH has 18 places).
        const tr = row(cell(b.currency), cell(trim(b.available, 2)), cell(trim(b.locked, 2), "muted"));
        tr.dataset.currency = b.currency;
        return tr;
      }),
    );
    this.onBalances(this.balances);
  }

  renderPortfolio() {
    const portfolio = this.portfolio;
    if (!portfolio) {
      for (const id of ["portfolio-total", "portfolio-unrealized", "portfolio-realized"]) $(id).textContent = "—";
      $("portfolio-assets").replaceChildren();
      this.portfolioChart.load([], null);
      return;
    }
    $("portfolio-total").textContent = `${portfolio.total_value} ${portfolio.valuation_currency}`;
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
    this.portfolioChart.load(this.portfolioHistory ?? [], portfolio.total_value);
  }
}

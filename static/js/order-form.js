// The order form: limit and market orders, the market's tick and lot checked as you type, and the API's
// own error messages shown next to the field they are about.
import { isDecimal, isMultipleOf, multiply, scaleOf, toUnits } from "./decimal.js";

// Which field an API error code belongs to; anything else is shown under the whole form.
const FIELD_OF_CODE = {
  invalid_price_tick: "price",
  invalid_quantity_step: "quantity",
  below_min_notional: "quantity",
  insufficient_funds: "quantity",
  max_order_quantity_exceeded: "quantity",
  max_order_notional_exceeded: "quantity",
  price_out_of_band: "price",
};

export function bindOrderForm({ form, api, symbol, onPlaced }) {
  const fields = { price: form.elements.price, quantity: form.elements.quantity };
  const submit = form.querySelector("#order-submit");
  const formError = form.querySelector("#order-form-error");
  const total = form.querySelector("#order-total");
  const announce = form.querySelector("#order-status");
  let market = null;
  let balances = new Map();
  let loggedIn = false;
  // When an answer is lost (network, gateway, server error) the order may exist: the same order sent
  // again carries the same client_order_id, so the server answers the first one instead of placing two.
  let pending = null; // {key, id}

  const side = () => form.elements.side.value;
  const type = () => form.elements.type.value;

  function setError(name, message) {
    const target = form.querySelector(`#order-${name}-error`);
    const input = fields[name];
    if (target) target.textContent = message || "";
    if (input) {
      if (message) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }
  }

  function clearErrors() {
    setError("price", "");
    setError("quantity", "");
    formError.textContent = "";
  }

  /** What is wrong with a decimal field's text, or undefined. */
  function problemOf(text, { name, example, step, stepName, unit }) {
    if (!text) return `Enter ${name === "amount" ? "an" : "a"} ${name}.`;
    if (!isDecimal(text)) return `Enter the ${name} as a plain decimal number, such as ${example}.`;
    if (toUnits(text, scaleOf(text)) === 0n) return `The ${name} must be more than 0.`;
    if (!isMultipleOf(text, step)) return `The ${name} must be a multiple of the ${stepName} ${step} ${unit}.`;
    return undefined;
  }

  /** The market's rules, checked before anything is sent. Returns {field: message}. */
  function check() {
    const problems = {};
    if (!market) return problems;
    problems.quantity = problemOf(fields.quantity.value.trim(), {
      name: "amount", example: "0.25", step: market.lot_size, stepName: "lot size", unit: market.base,
    });
    if (type() === "limit") {
      problems.price = problemOf(fields.price.value.trim(), {
        name: "price", example: "100.25", step: market.tick_size, stepName: "tick size", unit: market.quote,
      });
    }
    for (const name of Object.keys(problems)) if (!problems[name]) delete problems[name];
    return problems;
  }

  function update({ showProblems = false } = {}) {
    const isLimit = type() === "limit";
    for (const name of ["price", "time_in_force", "post_only"]) {
      form.querySelector(`[data-for="${name}"]`).hidden = !isLimit;
    }
    const buying = side() === "buy";
    submit.textContent = `${buying ? "Buy" : "Sell"}${market ? ` ${market.base}` : ""}`;
    submit.className = buying ? "buy" : "sell";
    submit.disabled = !loggedIn || !market;
    const problems = check();
    for (const name of ["price", "quantity"]) {
      // While typing, only what is there is judged: an empty field is not an error until submit.
      const value = fields[name].value.trim();
      setError(name, showProblems || value ? problems[name] : "");
    }
    let text = "";
    if (market) {
      const price = fields.price.value.trim();
      const quantity = fields.quantity.value.trim();
      if (isLimit && !problems.price && !problems.quantity) text = `Total ${multiply(price, quantity)} ${market.quote}. `;
      const currency = buying ? market.quote : market.base;
      const balance = balances.get(currency);
      if (loggedIn && balance) text += `Available ${balance.available} ${currency}.`;
    }
    total.textContent = text;
    return problems;
  }

  async function place(event) {
    event.preventDefault();
    clearErrors();
    announce.textContent = "";
    const problems = update({ showProblems: true });
    if (Object.keys(problems).length) {
      fields[problems.price ? "price" : "quantity"].focus();
      return;
    }
    const body = {
      symbol: symbol(),
      side: side(),
      type: type(),
      quantity: fields.quantity.value.trim(),
    };
    if (type() === "limit") {
      body.price = fields.price.value.trim();
      body.time_in_force = form.elements.time_in_force.value;
      body.post_only = form.elements.post_only.checked;
    }
    const key = JSON.stringify(body);
    if (!pending || pending.key !== key) pending = { key, id: `web-${crypto.randomUUID()}` };
    body.client_order_id = pending.id;
    submit.disabled = true;
    submit.setAttribute("aria-busy", "true");
    try {
      const order = await api.request("POST", "orders", body);
      pending = null;
      fields.quantity.value = "";
      update();
      announce.textContent = `Order ${order.id} placed: ${order.side} ${order.quantity} ${market.base}${order.price ? ` at ${order.price}` : ""}.`;
      onPlaced(order);
    } catch (error) {
      const unknown = error.status === 0 || error.status === 408 || error.status >= 500;
      if (!unknown) pending = null; // a definite answer: the next submit is a new order
      showApiError(error);
      if (unknown) formError.textContent = `${error.message} The order may have been placed: check your open orders. Submitting the same order again cannot place it twice.`;
    } finally {
      submit.removeAttribute("aria-busy");
      submit.disabled = !loggedIn || !market;
    }
  }

  function showApiError(error) {
    const details = error.details ?? {};
    let placed = false;
    if (error.code === "invalid_request") {
      for (const [field, messages] of Object.entries(details)) {
        if (field in fields) {
          setError(field, [].concat(messages).join(" "));
          placed = true;
        }
      }
    }
    const field = FIELD_OF_CODE[error.code];
    if (field && fields[field]) {
      setError(field, error.message);
      fields[field].focus();
      return;
    }
    if (!placed) formError.textContent = error.message;
  }

  form.addEventListener("submit", place);
  form.addEventListener("input", () => update());
  form.addEventListener("change", () => update());

  return {
    market(next) {
      market = next;
      form.querySelector("#order-price-hint").textContent = `Tick ${next.tick_size} ${next.quote}`;
      form.querySelector("#order-quantity-hint").textContent =
        `Lot ${next.lot_size} ${next.base}, minimum order ${next.min_notional} ${next.quote}`;
      fields.price.value = "";
      fields.quantity.value = "";
      pending = null;
      clearErrors();
      update();
    },
    balances(next) {
      balances = next;
      update();
    },
    loggedIn(value) {
      loggedIn = value;
      form.parentElement.querySelector("#order-login-hint").hidden = value;
      update();
    },
    usePrice(price) {
      form.elements.type.value = "limit";
      fields.price.value = price;
      update();
      fields.quantity.focus();
    },
  };
}

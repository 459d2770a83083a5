// Decimal strings as scaled integers (BigInt): money never goes through a float on this page.
// Numbers appear only where a chart needs pixel coordinates.

const DECIMAL = /^(\d+)(?:\.(\d+))?$/;

/** Decimal places of a step such as "0.01" (2) or "1" (0). */
export function scaleOf(step) {
  const dot = step.indexOf(".");
  return dot < 0 ? 0 : step.length - dot - 1;
}

/** A non-negative decimal string as an integer number of 10^-scale units, or null when the text is not
 * a plain decimal or has significant digits beyond `scale`. */
export function toUnits(text, scale) {
  const match = DECIMAL.exec(String(text).trim());
  if (!match) return null;
  const [, whole, fraction = ""] = match;
  const extra = fraction.slice(scale);
  if (/[1-9]/.test(extra)) return null;
  return BigInt(whole + fraction.slice(0, scale).padEnd(scale, "0"));
}

/** Units back to a decimal string with exactly `scale` places. */
export function fromUnits(units, scale) {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, "0");
  const text = scale ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return negative ? `-${text}` : text;
}

/** Is the text a plain non-negative decimal (digits, at most one point)? */
export function isDecimal(text) {
  return DECIMAL.test(String(text).trim());
}

/** Compares two non-negative decimal strings exactly: -1, 0 or 1. */
export function compare(a, b) {
  const scale = Math.max(scaleOf(a), scaleOf(b));
  const x = toUnits(a, scale);
  const y = toUnits(b, scale);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The canonical form of a decimal string: no leading zeros before the point, no trailing zeros after
 * it ("0100.50" is "100.5"); the key of a price level whatever precision it was written in. */
export function canonical(text) {
  let [whole, fraction = ""] = String(text).split(".");
  whole = whole.replace(/^0+(?=\d)/, "");
  fraction = fraction.replace(/0+$/, "");
  return fraction ? `${whole}.${fraction}` : whole;
}

/** Is `value` a whole multiple of `step` (both decimal strings)? */
export function isMultipleOf(value, step) {
  const scale = Math.max(scaleOf(value), scaleOf(step));
  const units = toUnits(value, scale);
  const stepUnits = toUnits(step, scale);
  return units !== null && stepUnits !== null && stepUnits > 0n && units % stepUnits === 0n;
}

/** a x b, exact, with the sum of their scales. */
export function multiply(a, b) {
  const sa = scaleOf(a);
  const sb = scaleOf(b);
  return fromUnits(toUnits(a, sa) * toUnits(b, sb), sa + sb);
}

/** Removes trailing zeros after the point for display ("1.50000000" is "1.5"), keeping `min` places. */
export function trim(text, min = 0) {
  if (text === null || text === undefined) return "—";
  const [whole, fraction = ""] = String(text).split(".");
  let kept = fraction.replace(/0+$/, "");
  if (kept.length < min) kept = kept.padEnd(min, "0");
  return kept ? `${whole}.${kept}` : whole;
}

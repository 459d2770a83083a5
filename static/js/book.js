// The local order book of one market, kept from the WebSocket `book` channel and proven by the
// checksum of docs/api.md after every message. Mirrors LocalBook in apps/markets/client.py.
import { canonical, compare, scaleOf, toUnits, fromUnits } from "./decimal.js";

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE, as zlib.crc32) of an ASCII string, unsigned. */
export function crc32(text) {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const digits = (text) => text.replace(".", "").replace(/^0+/, "");

/** The docs/api.md checksum: the top 10 asks (lowest first), then the top 10 bids (highest first), each level
 * as its price then its quantity with the point removed and leading zeros stripped. */
export function bookChecksum(bids, asks) {
  let text = "";
  for (const [price, quantity] of [...asks.slice(0, 10), ...bids.slice(0, 10)]) text += digits(price) + digits(quantity);
  return crc32(text);
}

export class BookError extends Error {}

export class OrderBook {
  constructor(symbol) {
    this.symbol = symbol;
    this.sequence = null;
    this.bids = new Map(); // canonical price -> [price, quantity] as sent
    this.asks = new Map();
    this.sorted = null;
  }

  /** Applies a snapshot or an update; BookError on a sequence gap or a checksum mismatch (resubscribe). */
  apply(message) {
    if (message.type === "snapshot") {
      this.bids.clear();
      this.asks.clear();
    } else if (this.sequence === null) {
      throw new BookError("an update before any snapshot");
    } else if (message.sequence !== this.sequence + 1) {
      const expected = this.sequence + 1;
      this.sequence = null; // the updates queued behind this one are dropped until the fresh snapshot
      throw new BookError(`sequence gap: ${message.sequence} where ${expected} was due`);
    }
    for (const [side, levels] of [[this.bids, message.bids], [this.asks, message.asks]]) {
      for (const [price, quantity] of levels) {
        if (toUnits(quantity, scaleOf(quantity)) === 0n) side.delete(canonical(price));
        else side.set(canonical(price), [price, quantity]);
      }
    }
    this.sequence = message.sequence;
    this.sorted = null;
    const checksum = this.checksum();
    if (checksum !== message.checksum) {
      this.sequence = null;
      throw new BookError(`checksum mismatch at sequence ${message.sequence}: ${checksum} != ${message.checksum}`);
    }
  }

  reset() {
    this.sequence = null;
    this.bids.clear();
    this.asks.clear();
    this.sorted = null;
  }

  /** {bids, asks}: [price, quantity] arrays, best first. */
  levels() {
    if (!this.sorted) {
      const bids = [...this.bids.values()].sort((a, b) => compare(b[0], a[0]));
      const asks = [...this.asks.values()].sort((a, b) => compare(a[0], b[0]));
      this.sorted = { bids, asks };
    }
    return this.sorted;
  }

  checksum() {
    const { bids, asks } = this.levels();
    return bookChecksum(bids, asks);
  }
}

/** Levels with their cumulative quantity: [[price, quantity, cumulative], ...], exact decimals. */
export function withCumulative(levels, quantityScale) {
  let total = 0n;
  return levels.map(([price, quantity]) => {
    total += toUnits(quantity, quantityScale) ?? 0n;
    return [price, quantity, fromUnits(total, quantityScale)];
  });
}

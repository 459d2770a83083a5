// Charts: candles and the portfolio's value with TradingView Lightweight Charts (vendored, pinned in
// package.json), and the depth chart as a small SVG drawn from the local book. Numbers here are for
// drawing only; every amount shown as text stays a decimal string.
import {
  AreaSeries,
  CandlestickSeries,
  HistogramSeries,
  createChart,
} from "../vendor/lightweight-charts/lightweight-charts.standalone.production.mjs";

const dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
const TEXT = dark ? "#c9d1d9" : "#1d2430";
const GRID = dark ? "#21262d" : "#eef1f4";
const UP = "#1a7f37";
const DOWN = "#cf222e";

function baseOptions() {
  return {
    autoSize: true,
    layout: { background: { color: "transparent" }, textColor: TEXT, attributionLogo: true },
    grid: { vertLines: { color: GRID }, horzLines: { color: GRID } },
    timeScale: { timeVisible: true, secondsVisible: false },
    rightPriceScale: { borderVisible: false },
  };
}

const INTERVAL_SECONDS = { "1m": 60, "5m": 300, "1h": 3600, "1d": 86400 };

export class CandleChart {
  constructor(element) {
    this.chart = createChart(element, baseOptions());
    this.candles = this.chart.addSeries(CandlestickSeries, {
      upColor: UP, downColor: DOWN, borderVisible: false, wickUpColor: UP, wickDownColor: DOWN,
    });
    this.volume = this.chart.addSeries(HistogramSeries, { priceFormat: { type: "volume" }, priceScaleId: "" });
    this.volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    this.last = null;
    this.interval = "1m";
  }

  /** `rows` as GET /markets/{symbol}/candles answers them, oldest first. */
  load(rows, interval, priceScale) {
    this.interval = interval;
    const precision = priceScale;
    this.candles.applyOptions({ priceFormat: { type: "price", precision, minMove: 10 ** -precision } });
    const bars = rows.map(([openTime, open, high, low, close, volume]) => ({
      time: Date.parse(openTime) / 1000, open: +open, high: +high, low: +low, close: +close, volume: +volume,
    }));
    this.candles.setData(bars);
    this.volume.setData(bars.map((b) => ({ time: b.time, value: b.volume, color: b.close >= b.open ? UP : DOWN })));
    this.last = bars.length ? { ...bars[bars.length - 1] } : null;
  }

  /** Folds a trade from the stream into the current candle, or opens the next one. */
  addTrade(trade) {
    const seconds = INTERVAL_SECONDS[this.interval];
    const time = Math.floor(Date.parse(trade.time) / 1000 / seconds) * seconds;
    const price = +trade.price;
    const quantity = +trade.quantity;
    if (this.last && time < this.last.time) return; // older than the chart (it was loaded after this trade)
    if (this.last && this.last.time === time) {
      Object.assign(this.last, {
        high: Math.max(this.last.high, price), low: Math.min(this.last.low, price), close: price,
        volume: this.last.volume + quantity,
      });
    } else {
      this.last = { time, open: price, high: price, low: price, close: price, volume: quantity };
    }
    const bar = this.last;
    this.candles.update({ time: bar.time, open: bar.open, high: bar.high, low: bar.low, close: bar.close });
    this.volume.update({ time: bar.time, value: bar.volume, color: bar.close >= bar.open ? UP : DOWN });
  }
}

export class PortfolioChart {
  constructor(element) {
    this.chart = createChart(element, { ...baseOptions(), timeScale: { timeVisible: false } });
    this.series = this.chart.addSeries(AreaSeries, { lineColor: "#1f6feb", topColor: "rgba(31,111,235,.35)", bottomColor: "rgba(31,111,235,0)" });
  }

  /** `history` newest first as GET /portfolio/history answers; `today` the live total value. */
  load(history, todayValue) {
    const points = new Map();
    for (const day of [...history].reverse()) points.set(day.date, +day.total_value);
    if (todayValue !== null && todayValue !== undefined) points.set(new Date().toISOString().slice(0, 10), +todayValue);
    this.series.setData([...points].map(([time, value]) => ({ time, value })));
    this.chart.timeScale().fitContent();
  }
}

const SVG = "http://www.w3.org/2000/svg";

/** Draws cumulative bid and ask depth: x is price, y the cumulative amount, bids left of the spread. */
export function drawDepth(element, bids, asks) {
  const width = element.clientWidth || 320;
  const height = element.clientHeight || 160;
  element.replaceChildren();
  if (!bids.length && !asks.length) return;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const prices = [...bids, ...asks].map((level) => +level[0]);
  // A margin on both sides (1 % of the price when there is a single level), so no edge is lost.
  const margin = (Math.max(...prices) - Math.min(...prices)) * 0.05 || Math.max(...prices) * 0.01;
  const low = Math.min(...prices) - margin;
  const high = Math.max(...prices) + margin;
  const most = Math.max(bids.length ? +bids[bids.length - 1][2] : 0, asks.length ? +asks[asks.length - 1][2] : 0) || 1;
  const x = (price) => (high === low ? width / 2 : ((price - low) / (high - low)) * width);
  const y = (amount) => height - (amount / most) * (height - 4);
  const area = (levels, color, edge) => {
    if (!levels.length) return;
    // A step line from the best price outwards (the amount available up to each price), then flat
    // to the chart's edge: beyond the last level the depth is at least the total.
    let d = `M ${x(+levels[0][0])} ${height}`;
    let previous = 0;
    for (const [price, , cumulative] of levels) {
      d += ` L ${x(+price)} ${y(previous)} L ${x(+price)} ${y(+cumulative)}`;
      previous = +cumulative;
    }
    d += ` L ${edge} ${y(previous)} L ${edge} ${height} Z`;
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    path.setAttribute("fill", color);
    path.setAttribute("fill-opacity", "0.3");
    path.setAttribute("stroke", color);
    svg.appendChild(path);
  };
  area(bids, UP, 0);
  area(asks, DOWN, width);
  element.appendChild(svg);
}

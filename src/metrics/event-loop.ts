import { monitorEventLoopDelay } from "node:perf_hooks";

type IntervalHistogram = ReturnType<typeof monitorEventLoopDelay>;

import type * as Prom from "prom-client";

const Gauge: typeof Prom.Gauge = require("prom-client/lib/gauge");

/** Every histogram registered in this process; sampled only while `sampleEventLoop(true)`. */
const histograms = new Set<IntervalHistogram>();
let sampling = false;

/**
 * Turns the event-loop delay sampling on (a run is in progress) or off (at
 * rest). prom-client's own collector keeps `monitorEventLoopDelay` enabled
 * for good: its 10 ms timer woke the sidecar 100 times a second with nothing
 * to do (measured: ~106 context switches/s at rest, ~2 without it).
 */
export function sampleEventLoop(on: boolean): void {
	sampling = on;
	for (const h of histograms) {
		if (on) h.enable();
		else h.disable();
	}
}

/**
 * prom-client's `eventLoopLag` collector (the same series, names, help and
 * order), with its histogram enabled only while `sampleEventLoop(true)`.
 * At rest the percentiles keep the last sampled window's values; the lag
 * gauge itself is measured at each scrape (one `setImmediate`) as before.
 */
export function eventLoopLag(registry: Prom.Registry): void {
	const registers = [registry];
	const h = monitorEventLoopDelay({ resolution: 10 });
	histograms.add(h);
	if (sampling) h.enable();
	const gauge = (name: string, help: string, aggregator: Prom.Aggregator) =>
		new Gauge({ name: `nodejs_eventloop_lag_${name}`, help, registers, aggregator });
	const lag = new Gauge({
		name: "nodejs_eventloop_lag_seconds",
		help: "Lag of event loop in seconds.",
		registers,
		aggregator: "average",
		collect() {
			const start = process.hrtime.bigint();
			setImmediate(() => lag.set(Number(process.hrtime.bigint() - start) / 1e9));
			if (h.count === 0) return;
			min.set(h.min / 1e9);
			max.set(h.max / 1e9);
			mean.set(h.mean / 1e9);
			stddev.set(h.stddev / 1e9);
			p50.set(h.percentile(50) / 1e9);
			p90.set(h.percentile(90) / 1e9);
			p99.set(h.percentile(99) / 1e9);
			h.reset();
		},
	});
	const min = gauge("min_seconds", "The minimum recorded event loop delay.", "min");
	const max = gauge("max_seconds", "The maximum recorded event loop delay.", "max");
	const mean = gauge("mean_seconds", "The mean of the recorded event loop delays.", "average");
	const stddev = gauge("stddev_seconds", "The standard deviation of the recorded event loop delays.", "average");
	const p50 = gauge("p50_seconds", "The 50th percentile of the recorded event loop delays.", "average");
	const p90 = gauge("p90_seconds", "The 90th percentile of the recorded event loop delays.", "average");
	const p99 = gauge("p99_seconds", "The 99th percentile of the recorded event loop delays.", "average");
}

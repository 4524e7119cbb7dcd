import type * as Prom from "prom-client";
import { eventLoopLag } from "./event-loop";

/**
 * prom-client's classes, required from its modules rather than its index:
 * the index also loads its Pushgateway (node:http and node:https), its cluster
 * aggregator and every default collector, which the sidecar does not use and
 * which cost ~7 MB of idle RSS under Bun (measured with the bench's memory
 * row). Same classes, from the exact version package.json pins.
 */
export const Registry: typeof Prom.Registry = require("prom-client/lib/registry");
export const Counter: typeof Prom.Counter = require("prom-client/lib/counter");
export const Gauge: typeof Prom.Gauge = require("prom-client/lib/gauge");
export const Histogram: typeof Prom.Histogram = require("prom-client/lib/histogram");
export type Registry = Prom.Registry;
export type Counter<L extends string = string> = Prom.Counter<L>;
export type Gauge<L extends string = string> = Prom.Gauge<L>;
export type Histogram<L extends string = string> = Prom.Histogram<L>;

/** One of prom-client's default collectors: registers its series in `registry`. */
type Collector = (registry: Prom.Registry, config: Record<string, unknown>) => void;

/**
 * The default collectors that read real values under Bun (see process.ts for
 * those that do not): what `collectDefaultMetrics` would register, minus those.
 */
export const WORKING_COLLECTORS: readonly Collector[] = [
	require("prom-client/lib/metrics/processCpuTotal"),
	require("prom-client/lib/metrics/processStartTime"),
	require("prom-client/lib/metrics/osMemoryHeap"),
	require("prom-client/lib/metrics/processOpenFileDescriptors"),
	require("prom-client/lib/metrics/processMaxFileDescriptors"),
	// prom-client's series, sampled only while a run is in progress (see event-loop.ts).
	(registry) => eventLoopLag(registry),
	require("prom-client/lib/metrics/heapSizeAndUsed"),
];

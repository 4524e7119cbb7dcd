import { collectDefaultMetrics, Registry } from "prom-client";

/**
 * prom-client's default series that read nothing real under Bun, measured
 * with Bun 1.4.5: Bun has no libuv handles or requests to list
 * (`process._getActiveHandles`/`_getActiveRequests`/`getActiveResourcesInfo`
 * give nothing), no V8 heap spaces (`v8.getHeapSpaceStatistics` is all
 * zeros), no GC performance entries (the histogram never moves), and the
 * version info names the Node release Bun imitates, not Bun. Left out rather
 * than scraped as constant zeros a dashboard would trust.
 */
export const NOT_UNDER_BUN = [
	"nodejs_active_handles",
	"nodejs_active_handles_total",
	"nodejs_active_requests",
	"nodejs_active_requests_total",
	"nodejs_active_resources",
	"nodejs_active_resources_total",
	"nodejs_heap_space_size_total_bytes",
	"nodejs_heap_space_size_used_bytes",
	"nodejs_heap_space_size_available_bytes",
	"nodejs_gc_duration_seconds",
	"nodejs_version_info",
] as const;

/**
 * The standard process series (`process_cpu_seconds_total`,
 * `process_resident_memory_bytes`, `process_open_fds`,
 * `process_start_time_seconds`, `nodejs_eventloop_lag_*`, heap size…) from
 * prom-client's `collectDefaultMetrics`, in a registry of their own, without
 * those that do not work under Bun.
 */
export function processRegistry(): Registry {
	const registry = new Registry();
	collectDefaultMetrics({ register: registry });
	for (const name of NOT_UNDER_BUN) registry.removeSingleMetric(name);
	return registry;
}

import { Registry, WORKING_COLLECTORS } from "./prom";

/**
 * prom-client's default series that read nothing real under Bun, measured
 * with Bun 1.4.5, and so not registered: Bun has no libuv handles or requests
 * to list (`process._getActiveHandles`/`_getActiveRequests`/
 * `getActiveResourcesInfo` give nothing), no V8 heap spaces
 * (`v8.getHeapSpaceStatistics` is all zeros), no GC performance entries (the
 * histogram never moves), and the version info names the Node release Bun
 * imitates, not Bun. Constant zeros would mislead a dashboard.
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
 * `process_resident_memory_bytes`, `process_open_fds`, `process_max_fds`,
 * `process_start_time_seconds`, `nodejs_eventloop_lag_*`, heap size…) of
 * prom-client's default collectors, in a registry of their own.
 */
export function processRegistry(): Registry {
	const registry = new Registry();
	for (const collect of WORKING_COLLECTORS) collect(registry, {});
	return registry;
}

import { families } from "./families";
import { Registry } from "./prom";

export interface ResourceSources {
	/** The agent's tool processes (the engine's descendants): their memory in bytes, and how many. */
	tools(): { bytes: number; processes: number };
	/** The container's memory usage and limit (cgroup), bytes; undefined when unknown. */
	containerUsage(): number | undefined;
	containerLimit(): number | undefined;
}

/**
 * Gauges of the memory the agent's own work takes and of the container's
 * room for it, read when scraped (no sampling timer of their own), in a
 * registry of their own (`Metrics.include` adds it to the scrape).
 */
export function resourceGauges(sources: ResourceSources): Registry {
	const registry = new Registry();
	const r = families(registry);
	const p = "opencode_sidecar_";
	r.gauge({
		name: `${p}tool_processes_memory_bytes`,
		help: "Memory (PSS, else RSS) of the agent's tool processes: every descendant of the engine process",
		collect: (g) => g.set(sources.tools().bytes),
	});
	r.gauge({
		name: `${p}tool_processes`,
		help: "The agent's tool processes running now (descendants of the engine process)",
		collect: (g) => g.set(sources.tools().processes),
	});
	r.gauge({
		name: `${p}container_memory_bytes`,
		help: "The container's memory from its cgroup: usage (memory.current) and limit (memory.max); absent when unknown",
		labelNames: ["kind"],
		collect: (g) => {
			const usage = sources.containerUsage();
			const limit = sources.containerLimit();
			if (usage !== undefined) g.set({ kind: "usage" }, usage);
			if (limit !== undefined) g.set({ kind: "limit" }, limit);
		},
	});
	return registry;
}

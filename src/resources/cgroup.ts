import { readFileSync } from "node:fs";
import { join } from "node:path";

/** Where this process's memory cgroup is, as /proc/self/cgroup names it. */
export interface CgroupPlace {
	readonly version: 1 | 2;
	/** The cgroup's path inside its hierarchy (`/` inside a container with its own cgroup namespace). */
	readonly path: string;
}

/**
 * The memory cgroup in a /proc/<pid>/cgroup text: the v1 `memory` controller's
 * line when there is one, else the v2 unified line (`0::/path`).
 */
export function parseProcCgroup(text: string): CgroupPlace | undefined {
	let unified: string | undefined;
	for (const line of text.split("\n")) {
		const [id, controllers, ...rest] = line.split(":");
		const path = rest.join(":");
		if (id === undefined || controllers === undefined || !path) continue;
		if (controllers.split(",").includes("memory")) return { version: 1, path };
		if (id === "0" && controllers === "") unified = path;
	}
	return unified === undefined ? undefined : { version: 2, path: unified };
}

/** v1 reports "no limit" as a page-rounded 2^63-1; anything this large is no limit. */
const NO_LIMIT = 2 ** 60;

/** A `memory.max` / `memory.limit_in_bytes` text in bytes; undefined for `max` or no real limit. */
export function parseBytes(text: string): number | undefined {
	const t = text.trim();
	if (t === "" || t === "max") return undefined;
	const n = Number(t);
	return Number.isFinite(n) && n >= 0 && n < NO_LIMIT ? n : undefined;
}

export interface CgroupMemoryOptions {
	/** Where cgroup filesystems are mounted (default /sys/fs/cgroup): a test points it at a fixture directory. */
	readonly root?: string;
	/** The text of /proc/self/cgroup (default: read from there). */
	readonly procCgroup?: () => string;
}

/**
 * The container's memory as its cgroup counts it: the limit (`memory.max`,
 * v1 `memory.limit_in_bytes`) and the usage (`memory.current`, v1
 * `memory.usage_in_bytes`) of this process's own cgroup. Read only: it never
 * creates or changes a cgroup. Undefined wherever a file is missing, or the
 * limit is `max`. Hand-written: a few file reads, no library covers both versions.
 */
export class CgroupMemory {
	private readonly dirs: readonly string[];
	private readonly files: { readonly limit: string; readonly usage: string };

	constructor(options: CgroupMemoryOptions = {}) {
		const root = options.root ?? "/sys/fs/cgroup";
		let place: CgroupPlace | undefined;
		try {
			place = parseProcCgroup((options.procCgroup ?? (() => readFileSync("/proc/self/cgroup", "utf8")))());
		} catch {
			place = undefined;
		}
		const base = place?.version === 1 ? join(root, "memory") : root;
		// The process's own cgroup directory when the mount shows the whole hierarchy; the mount's root
		// when the container has its own cgroup namespace (its cgroup is the root there).
		this.dirs = place ? [join(base, place.path), base] : [];
		this.files =
			place?.version === 1
				? { limit: "memory.limit_in_bytes", usage: "memory.usage_in_bytes" }
				: { limit: "memory.max", usage: "memory.current" };
	}

	/** The container's memory limit in bytes; undefined when there is none (or no cgroup is readable). */
	limit(): number | undefined {
		return this.read(this.files.limit);
	}

	/** The memory the container uses now in bytes (page cache included, as the OOM killer counts it). */
	usage(): number | undefined {
		return this.read(this.files.usage);
	}

	private read(file: string): number | undefined {
		for (const dir of this.dirs) {
			let text: string;
			try {
				text = readFileSync(join(dir, file), "utf8");
			} catch {
				continue;
			}
			return parseBytes(text);
		}
		return undefined;
	}
}

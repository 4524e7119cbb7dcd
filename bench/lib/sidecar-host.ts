import type { TempDirs } from "../../test/support/workspace";
import { type Child, startChild } from "./child";

/** The sidecar host (bench/host/sidecar.ts) on its own temporary directories. */
export interface SidecarHost {
	readonly child: Child;
	readonly base: string;
	readonly dirs: TempDirs;
	stop(): Promise<void>;
}

/** `a=1,b=2` → `{ BUN_JSC_a: "1", BUN_JSC_b: "2" }` (JavaScriptCore reads its options from BUN_JSC_*). */
function jscOptions(spec: string | undefined): Record<string, string> {
	const out: Record<string, string> = {};
	for (const kv of (spec ?? "").split(",").filter(Boolean)) {
		const [k, v] = kv.split("=");
		if (k && v !== undefined) out[`BUN_JSC_${k}`] = v;
	}
	return out;
}

/** Environment as a pod would run it: production defaults, loopback only. */
export function sidecarEnv(dirs: TempDirs, extra: Record<string, string> = {}): Record<string, string> {
	return {
		WORKSPACE_DIR: dirs.workspace,
		STATE_DIR: dirs.state,
		PORT: "0",
		HOST: "127.0.0.1",
		LOG_LEVEL: "info",
		// The fan-out row puts 500 subscribers on one session (the default cap is lower, where it exists).
		MAX_SUBSCRIBERS_PER_SESSION: "1000",
		// No Service to leave here: stop at once instead of waiting for endpoints to update.
		SHUTDOWN_DELAY: "0",
		// As the image's ENV sets it (see the Dockerfile).
		BUN_JSC_useFTLJIT: "0",
		// JavaScriptCore options for an A/B of the sidecar alone (e.g. BENCH_SIDECAR_JSC="useFTLJIT=1").
		...jscOptions(process.env.BENCH_SIDECAR_JSC),
		...extra,
	};
}

export async function startSidecarHost(
	dirs: TempDirs,
	extra: Record<string, string> = {},
	startTimeoutMs?: number,
): Promise<SidecarHost> {
	const child = await startChild("sidecar", sidecarEnv(dirs, extra), startTimeoutMs);
	return {
		child,
		base: `http://127.0.0.1:${child.hello.port}`,
		dirs,
		stop: () => child.stop(),
	};
}

import { chownSync, mkdirSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ScriptedLlm } from "../scripted-llm";
import { type SidecarProcess, startSidecar } from "../sidecar-process";

/**
 * Running the sidecar as the image runs it, for the containment tests: Bun on src/main.ts as uid
 * 10001 (via `setpriv` when the tests run as root), from a copy its uid can read.
 */
const REPO = resolve(import.meta.dir, "../../..");
// The image's uid (Dockerfile). As root (CI) the sidecar drops to it; otherwise it runs as the current user.
export const UID = process.getuid?.() === 0 ? 10001 : (process.getuid?.() ?? 10001);
export const GID = process.getgid?.() === 0 ? 10001 : (process.getgid?.() ?? 10001);

/**
 * Where the sidecar runs from: this repository when the test uid can read it, else (a clone under a 0700
 * home) a hard-linked copy of what it needs inside the test's own directory.
 */
export function installFor(root: string): string {
	const drop = process.getuid?.() === 0 ? ["setpriv", `--reuid=${UID}`, `--regid=${GID}`, "--clear-groups", "--"] : [];
	const check = ["test", "-r", join(REPO, "src/main.ts"), "-a", "-x", join(REPO, "node_modules/.bin/bun")];
	if (Bun.spawnSync([...drop, ...check]).exitCode === 0) return REPO;
	const app = join(root, "app");
	mkdirSync(app, { mode: 0o755 });
	const parts = ["src", "node_modules", "test", "package.json", "tsconfig.json", "bunfig.toml"].map((p) =>
		join(REPO, p),
	);
	// Hard links where the file system allows (no copy of ~700 MB), a copy otherwise.
	const linked = Bun.spawnSync(["cp", "-al", ...parts, app]).exitCode === 0;
	if (!linked && Bun.spawnSync(["cp", "-a", ...parts, app]).exitCode !== 0) throw new Error(`could not copy ${REPO}`);
	return app;
}

export function chownTree(path: string): void {
	chownSync(path, UID, GID);
	for (const entry of readdirSync(path, { withFileTypes: true })) {
		const p = join(path, entry.name);
		if (entry.isDirectory()) chownTree(p);
		else chownSync(p, UID, GID);
	}
}

/** Where a sidecar run as the image runs it lives, and what it is given beyond the image's environment. */
export interface AsImageOptions {
	/** installFor's answer. */
	readonly app: string;
	readonly workspace: string;
	readonly state: string;
	readonly home: string;
	readonly tmp: string;
	readonly secret: string;
	readonly llm: ScriptedLlm;
	/** Merged over the image's environment (e.g. CREDENTIALS_URL). */
	readonly env?: Record<string, string>;
}

/**
 * Starts the sidecar as uid 10001 with the image's environment (Dockerfile ENV), the shared secret set, every
 * permission allowed (the attacks read files outside the workspace: the policy is not what stands in their way)
 * and the provider idle timeout long, then warms it up on `llm`.
 */
export const startAsImage = (o: AsImageOptions): Promise<SidecarProcess> =>
	startSidecar({
		appDir: o.app,
		workspace: o.workspace,
		state: o.state,
		runAs: { uid: UID, gid: GID },
		env: {
			NODE_ENV: "production",
			BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0",
			HOME: o.home,
			TMPDIR: o.tmp,
			OPENCODE_SHARED_SECRET: o.secret,
			PERMISSION_POLICY: "allow",
			PROVIDER_IDLE_TIMEOUT: "900",
			...o.env,
		},
		warmUpWith: o.llm,
	});

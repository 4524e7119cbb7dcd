import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { startSidecar } from "../support/sidecar-process";
import { makeTempDirs } from "../support/workspace";

// A wrong engine is a clear error, never a silent hang: fake `opencode` binaries (small scripts) stand in
// for engines the sidecar cannot drive.

const REPO = resolve(import.meta.dir, "../..");
const BUN = join(REPO, "node_modules/.bin/bun");
const dirs = makeTempDirs();
afterAll(() => dirs.cleanup());

function fakeEngine(name: string, script: string): string {
	const path = join(dirs.root, name);
	writeFileSync(path, `#!/bin/sh\n${script}\n`);
	chmodSync(path, 0o755);
	return path;
}

describe("the engine's version and start", () => {
	test("an engine whose version is outside the supported ranges: exit 78 naming the version and the ranges", async () => {
		const bin = fakeEngine("opencode-0.9", 'if [ "$1" = "--version" ]; then echo 0.9.0; exit 0; fi\nexit 3');
		const proc = Bun.spawn([BUN, "src/main.ts"], {
			cwd: REPO,
			env: {
				PATH: process.env.PATH ?? "/usr/bin:/bin",
				HOME: process.env.HOME ?? "/root",
				WORKSPACE_DIR: dirs.workspace,
				STATE_DIR: dirs.state,
				PORT: "0",
				HOST: "127.0.0.1",
				OPENCODE_BIN: bin,
			},
			stdout: "pipe",
			stderr: "pipe",
		});
		expect(await proc.exited).toBe(78);
		const stderr = await new Response(proc.stderr).text();
		expect(stderr).toContain(`unsupported engine: OPENCODE_BIN ${bin} is OpenCode 0.9.0, outside the supported:`);
		expect(stderr).toContain(">=1.18.0 <1.19.0");
	});

	test("an engine that listens but serves HTML at /event: an error line naming what the feed got, /ready says why, and the start timeout names the feed", async () => {
		const server = join(REPO, "test/fixtures/fake-engine/html-at-event.ts");
		const bin = fakeEngine(
			"opencode-html",
			`if [ "$1" = "--version" ]; then echo 1.18.33; exit 0; fi\nexec "${BUN}" "${server}"`,
		);
		const sidecar = await startSidecar({
			workspace: dirs.workspace,
			state: dirs.state,
			env: { OPENCODE_BIN: bin, ENGINE_START_TIMEOUT: "5" },
			waitReady: false,
		});
		try {
			const got = "engine /event answered 200 text/html, not text/event-stream";
			const failed = await sidecar.waitForLog((l) => l.msg === "engine event feed failed");
			expect(failed).toMatchObject({ level: "error", reason: got });
			const ready = await fetch(`${sidecar.url}/ready`);
			expect(ready.status).toBe(503);
			expect(await ready.text()).toContain(got);
			// On a loaded machine an attempt may time out listening first; the one that listened names the feed.
			const timedOut = await sidecar.waitForLog((l) => l.msg === "engine start timed out" && l.step === "feed");
			expect(timedOut).toMatchObject({ level: "error", step: "feed" });
			expect(String(timedOut.reason)).toBe(`the engine's start step feed did not complete within 5000 ms: ${got}`);
			const after = await fetch(`${sidecar.url}/ready`);
			expect(after.status).toBe(503);
			expect(await after.text()).toContain("start step feed did not complete");
		} finally {
			await sidecar.stop();
		}
	});
});

import { afterEach, describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { parseConfig } from "../../src/config/parse";
import { systemClock } from "../../src/lib/clock";
import { createLogger } from "../../src/lib/log";
import { type Hardening, hardenProcess, type ProcessControls } from "../../src/security/harden";
import { createSidecar, type Sidecar } from "../../src/sidecar";
import { makeTempDirs, type TempDirs } from "../support/workspace";

/** A fake libc: prctl keeps the dumpable flag like the kernel does, unless told to fail. */
function controls(opts: { prctlFails?: boolean; setrlimitFails?: boolean } = {}): ProcessControls {
	let dumpable = 1;
	return {
		prctl(option, arg2) {
			if (option === 4) {
				if (opts.prctlFails) return -1;
				dumpable = arg2;
				return 0;
			}
			if (option === 3) return dumpable;
			return -1;
		},
		disableCoreDumps: () => (opts.setrlimitFails ? -1 : 0),
	};
}

describe("hardenProcess", () => {
	test("marks the process non-dumpable and turns core dumps off", () => {
		expect(hardenProcess(() => controls())).toEqual({ dumpable: false, problem: undefined });
	});

	test("a refused prctl leaves the process dumpable and says so", () => {
		const h = hardenProcess(() => controls({ prctlFails: true }));
		expect(h.dumpable).toBe(true);
		expect(h.problem).toContain("prctl(PR_SET_DUMPABLE, 0) failed");
	});

	test("no libc (another OS) is reported, not thrown", () => {
		const h = hardenProcess(() => {
			throw new Error("libc.so.6: cannot open shared object file");
		});
		expect(h).toEqual({ dumpable: true, problem: expect.stringContaining("prctl is not available: libc.so.6") });
	});

	test("a failing setrlimit is reported even when prctl worked", () => {
		const h = hardenProcess(() => controls({ setrlimitFails: true }));
		expect(h.dumpable).toBe(false);
		expect(h.problem).toContain("RLIMIT_CORE");
	});
});

describe("a sidecar whose process could not be hardened", () => {
	let dirs: TempDirs | undefined;
	let sidecar: Sidecar | undefined;
	afterEach(async () => {
		await sidecar?.stop();
		dirs?.cleanup();
	});

	function start(hardening: Hardening) {
		dirs = makeTempDirs();
		const config = parseConfig(
			{
				WORKSPACE_DIR: dirs.workspace,
				STATE_DIR: dirs.state,
				// No engine is needed to see the warning.
				OPENCODE_BIN: "/nonexistent/opencode",
				K8S_REPORTER: "off",
			},
			resolve(import.meta.dir, "../.."),
		);
		const lines: string[] = [];
		const log = createLogger("info", { write: (l: string) => void lines.push(l) });
		sidecar = createSidecar(config, systemClock, log, { hardening, release: { version: "1.18.33", generation: "1" } });
		const get = (path: string) => (sidecar as Sidecar).app.handle(new Request(`http://localhost${path}`));
		return { lines, get };
	}

	test("logs one warning, and says so in /ready and in a metric", async () => {
		const { lines, get } = start(hardenProcess(() => controls({ prctlFails: true })));
		const warnings = lines
			.map((l) => JSON.parse(l) as { level: string; msg: string })
			.filter((l) => l.level === "warn");
		expect(warnings.filter((w) => w.msg.includes("dumpable"))).toHaveLength(1);
		expect(warnings[0]?.msg).toContain("prctl(PR_SET_DUMPABLE, 0) failed");
		const ready = (await (await get("/ready")).json()) as { warnings?: string[] };
		expect(ready.warnings?.[0]).toContain("process is dumpable");
		expect(await (await get("/metrics")).text()).toContain("opencode_sidecar_process_dumpable 1");
	});

	test("a hardened process reports 0 and no warning", async () => {
		const { lines, get } = start(hardenProcess(() => controls()));
		expect(lines.join("\n")).not.toContain("dumpable");
		// The state directory (made 0755 by the test, as an init container would) is the sidecar's alone.
		expect(statSync((dirs as TempDirs).state).mode & 0o777).toBe(0o700);
		expect(((await (await get("/ready")).json()) as { warnings?: string[] }).warnings).toBeUndefined();
		expect(await (await get("/metrics")).text()).toContain("opencode_sidecar_process_dumpable 0");
	});
});

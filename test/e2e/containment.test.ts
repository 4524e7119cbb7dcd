import { afterAll, beforeAll, describe, expect } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { postSession, sessionBody } from "../support/api";
import { chownTree, installFor, startAsImage } from "../support/containment/as-image";
import { type ScriptedLlm, startScriptedLlm } from "../support/scripted-llm";
import { findSecrets } from "../support/secrets";
import type { SidecarProcess } from "../support/sidecar-process";
import { readStream } from "../support/sse-client";
import { allPresent, NEEDS, testNeeding } from "../support/system";
import { makeTempDirs, type TempDirs } from "../support/workspace";

/**
 * Containment: an injected agent runs an ordinary script from its own `bash`
 * tool (the real engine, driven by the scripted LLM) against the sidecar
 * started as the image starts it (Bun running src/main.ts, as uid 10001, with
 * OPENCODE_SHARED_SECRET set). The script reads the environment, command line
 * and memory of every process of the sidecar's tree it can reach
 * (test/support/containment/proc-scan.ts); neither session's key nor the
 * shared secret may be in any of it, nor in any file under the state,
 * workspace, home and temp directories.
 */
type Counts = Record<string, number>;
interface Scanned {
	pid: number;
	comm: string;
	environ: Counts;
	cmdline: Counts;
	mem: Counts;
	bytes: number;
	errors: string[];
}

/** Splits a secret in two so that the command the model sends never holds it whole. */
const pieces = (name: string, value: string) => {
	const half = Math.floor(value.length / 2);
	return [name, value.slice(0, half), value.slice(half)];
};

let llm: ScriptedLlm;
let dirs: TempDirs;
let home: string;
let tmp: string;
let sidecar: SidecarProcess;
let bun: string;
let scan: string;
const secret = `shared-${crypto.randomUUID()}`;
const auth = { authorization: `Bearer ${secret}` };
const test = testNeeding(NEEDS.setpriv);

beforeAll(async () => {
	if (!allPresent(NEEDS.setpriv)) return;
	llm = await startScriptedLlm();
	dirs = makeTempDirs("sidecar-containment-");
	home = join(dirs.root, "home");
	tmp = join(dirs.root, "tmp");
	for (const d of [home, tmp, join(dirs.root, "out")]) mkdirSync(d, { mode: 0o700 });
	chownTree(dirs.root);
	// After chownTree: a hard-linked install must keep its owner.
	const app = installFor(dirs.root);
	bun = join(app, "node_modules/.bin/bun");
	scan = join(app, "test/support/containment/proc-scan.ts");
	sidecar = await startAsImage({ app, workspace: dirs.workspace, state: dirs.state, home, tmp, secret, llm });
});

afterAll(async () => {
	await sidecar?.stop();
	await llm?.close();
	dirs?.cleanup();
});

describe("an injected agent reading /proc from its bash tool", () => {
	test("finds no API key and no shared secret in any process's memory, environment or command line, nor in any file", async () => {
		const other = `sk-other-${crypto.randomUUID()}`;
		const own = `sk-own-${crypto.randomUUID()}`;
		const canary = `canary-${crypto.randomUUID()}`;
		// Another session, live: its provider call is open (the gateway has used its key).
		llm.script(other, [{ kind: "hang" }]);
		const victim = sessionBody({ model_config: { api_key: other, api_endpoint: llm.url } });
		expect((await postSession(sidecar.url, victim, auth)).status).toBe(201);
		await llm.waitForRequest((r) => r.key === other, 60_000);

		const out = join(dirs.root, "out", "scan.json");
		const command = [
			bun,
			scan,
			out,
			String(sidecar.pid),
			...pieces("own_key", own),
			...pieces("other_key", other),
			...pieces("shared_secret", secret),
			...pieces("canary", canary),
		].join(" ");
		llm.script(own, [
			{
				kind: "tool",
				calls: [{ name: "bash", args: { command, description: "look around", timeout: 600_000 } }],
			},
			{ kind: "text", text: "Looked." },
		]);
		const attacker = sessionBody({
			prompt: `Read the README (${canary}).`,
			model_config: { api_key: own, api_endpoint: llm.url, enabled_tools: ["bash"] },
		});
		expect((await postSession(sidecar.url, attacker, auth)).status).toBe(201);
		const run = await readStream(`${sidecar.url}/sessions/${attacker.session_id}/stream`, { headers: auth });
		expect(run.events.at(-1)).toMatchObject({ event: "complete" });
		const scanned = (JSON.parse(readFileSync(out, "utf8")) as { processes: Scanned[] }).processes;
		await fetch(`${sidecar.url}/sessions/${victim.session_id}`, { method: "DELETE", headers: auth });

		const found: string[] = [];
		for (const p of scanned) {
			for (const where of ["environ", "cmdline", "mem"] as const) {
				for (const [name, n] of Object.entries(p[where])) {
					if (name !== "canary" && n > 0)
						found.push(`${p.comm}(${p.pid}${p.pid === sidecar.pid ? ", sidecar" : ""}) ${where}: ${name} x${n}`);
				}
			}
		}
		console.log(
			`containment scan:\n${scanned.map((p) => `  ${p.comm}(${p.pid}) read ${p.bytes} bytes; environ ${JSON.stringify(p.environ)} mem ${JSON.stringify(p.mem)} ${p.errors.join(", ")}`).join("\n")}`,
		);
		// The scan reached the sidecar's tree: the sidecar and the engine, whose memory it could read
		// (the canary of the attacker's own prompt is there): a scan that reads nothing proves nothing.
		expect(scanned.some((p) => p.pid === sidecar.pid)).toBe(true);
		expect(scanned.some((p) => p.pid !== sidecar.pid && (p.mem.canary ?? 0) > 0)).toBe(true);
		expect(found).toEqual([]);
		// And the sidecar says it is hardened.
		const metrics = await (await fetch(`${sidecar.url}/metrics`, { headers: auth })).text();
		expect(metrics).toContain("opencode_sidecar_process_dumpable 0");

		await sidecar.stop();
		const files = findSecrets([own, other, secret], {
			texts: { logs: sidecar.output.join("\n"), events: JSON.stringify(run.events) },
			dirs: [dirs.state, dirs.workspace, home, tmp],
		});
		expect(files).toEqual([]);
	});
});

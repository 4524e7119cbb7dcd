import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CgroupMemory } from "../../src/resources/cgroup";
import { descendants, treeMemory } from "../../src/resources/process-tree";
import { sessionBody } from "../support/api";
import { watchStored } from "../support/engine-watch";
import { useInProcess } from "../support/in-process";
import { parseExposition } from "../support/prometheus-text";
import { waitFor } from "./helpers";

// The agent's own work is seen: a real session whose bash tool holds 400 MB (a real process, the engine's
// child) pushes the container past MEMORY_WARNING_PERCENT of its limit, and the session gets a non-fatal
// `memory_pressure` error while the tool runs. The container's cgroup is a fixture directory (a test never makes
// a cgroup): its memory.max is set just above what this process tree uses before the tool starts.

const MIB = 1024 * 1024;
const cgroupDir = mkdtempSync(join(tmpdir(), "cgroup-fixture-"));
writeFileSync(join(cgroupDir, "memory.max"), "max\n");
writeFileSync(join(cgroupDir, "memory.current"), "0\n");
const cgroup = new CgroupMemory({ root: cgroupDir, procCgroup: () => "0::/\n" });

const suite = useInProcess({ MEMORY_WARNING_PERCENT: "100" }, { cgroup }, (dirs) => {
	spawnSync("mkfifo", [join(dirs.workspace, "gate.fifo")]);
});

const metric = async (name: string) => {
	const families = parseExposition(await (await suite.handle("/metrics")).text());
	return families.get(name)?.samples ?? [];
};

describe("memory pressure", () => {
	test("a tool that pushes the container past its threshold warns its session while it runs", async () => {
		await suite.sidecar.engine.whenWarm();
		const before = treeMemory([process.pid, ...descendants(process.pid)]).bytes;
		const limit = before + 200 * MIB;
		writeFileSync(join(cgroupDir, "memory.max"), `${limit}\n`);
		// `filled` once all 400 MB are written (on a loaded machine filling takes seconds: the gauge is read after it).
		const command = `node -e "const fs = require('fs'); const b = Buffer.alloc(400 << 20, 1); fs.writeFileSync('filled', ''); fs.readFileSync('gate.fifo'); console.log(b.length)"`;
		const body = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
		suite.keys.push(body.model_config.api_key);
		suite.llm.script(body.model_config.api_key, [
			{ kind: "tool", calls: [{ name: "bash", args: { command, description: "Hold 400 MB" } }] },
			{ kind: "text", text: "Done." },
		]);
		expect((await suite.post(body)).status).toBe(201);
		const stored = await watchStored(suite.sidecar.sessions.get(body.session_id));
		const warned = (e: { event: string; data: unknown }) =>
			e.event === "error" && (e.data as { code?: string }).code === "memory_pressure";
		await stored.until((all) => all.some(warned), "a memory_pressure warning", 120_000);
		// The tool's process is the engine's descendant, counted by the gauge while it runs.
		await waitFor(() => existsSync(join(suite.dirs.workspace, "filled")), "the tool's 400 MB written", 120_000, 50);
		const tools = (await metric("opencode_sidecar_tool_processes_memory_bytes"))[0]?.value ?? 0;
		expect(tools).toBeGreaterThan(300 * MIB);
		const container = await metric("opencode_sidecar_container_memory_bytes");
		expect(container.find((s) => s.labels.kind === "limit")?.value).toBe(limit);
		writeFileSync(join(suite.dirs.workspace, "gate.fifo"), "go\n");
		await stored.until((all) => all.at(-1)?.event === "complete", "run end", 120_000);
		stored.stop();
		const events = stored.events;
		const at = (pred: (e: (typeof events)[number]) => boolean) => events.findIndex(pred);
		const warning = events[at(warned)];
		expect(warning?.data).toMatchObject({ fatal: false, code: "memory_pressure" });
		const text = (warning?.data as { error?: string } | undefined)?.error ?? "";
		expect(text).toContain("MEMORY_WARNING_PERCENT");
		const toolMib = Number(/tool processes use (\d+) MiB/.exec(text)?.[1]);
		// Sampled when the tree crossed the limit (200 MiB above its size before the tool), maybe mid-fill.
		expect(toolMib).toBeGreaterThan(150);
		// While the tool ran: after its call, before its result.
		expect(at(warned)).toBeGreaterThan(at((e) => e.event === "tool_call"));
		expect(at(warned)).toBeLessThan(at((e) => e.event === "tool_result"));
		expect(events.at(-1)?.event).toBe("complete");
		rmSync(cgroupDir, { recursive: true, force: true });
	});
});

/**
 * The benchmark suite (issue 6): every figure measured next to its baseline
 * in the same run, written to bench/results.json and bench/RESULTS.md.
 *
 *   npm run bench                  everything (a few minutes on 2 cores)
 *   npm run bench -- relay fanout  only these groups; details go to a temp file
 *
 * Groups: start, probes, create, relay, replay, fanout, ui, memory, history, model, growth, workspace, tracing, envelope.
 * OPENCODE_BIN=<engine> runs them on another engine (e.g. the 2.x adapter's); ENVELOPE_RUNS and
 * ENVELOPE_CPU_SECONDS shorten the envelope row (defaults 60 runs, 60 s).
 * BENCH_PROFILE=<dir> also writes a CPU profile of every bench child (the
 * sidecar host, the bare SSE server) into <dir> (`bun --cpu-prof`).
 */
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { startScriptedLlm } from "../test/support/scripted-llm";
import { makeTempDirs } from "../test/support/workspace";
import { createSession, waitEnded } from "./lib/api";
import { REPO } from "./lib/child";
import { now } from "./lib/clock";
import { CHANGES, FINDINGS } from "./lib/findings";
import { type Report, renderMarkdown } from "./lib/report";
import type { Row, RowResult } from "./lib/result";
import { type SidecarHost, startSidecarHost } from "./lib/sidecar-host";
import { createRows } from "./rows/create";
import { envelopeRows } from "./rows/envelope";
import { fanoutRows } from "./rows/fanout";
import { growthRows } from "./rows/growth";
import { historyRows } from "./rows/history";
import { memoryRows } from "./rows/memory";
import { modelRows } from "./rows/model";
import { probeRows } from "./rows/probes";
import { relayRows } from "./rows/relay";
import { replayRows } from "./rows/replay";
import { startRows } from "./rows/start";
import { tracingRows } from "./rows/tracing";
import { uiRows } from "./rows/ui";
import { workspaceRows } from "./rows/workspace";

const GROUPS = [
	"start",
	"probes",
	"create",
	"relay",
	"replay",
	"fanout",
	"ui",
	"memory",
	"history",
	"model",
	"growth",
	"workspace",
	"tracing",
	"envelope",
] as const;
type Group = (typeof GROUPS)[number];

const asked = process.argv.slice(2);
for (const a of asked)
	if (!GROUPS.includes(a as Group)) throw new Error(`unknown group ${a}; known: ${GROUPS.join(", ")}`);
const wanted = (g: Group) => asked.length === 0 || asked.includes(g);

const started = now();
const startedAt = new Date().toISOString();
const loadAtStart = loadavg()[0] ?? 0;
const rows: Row[] = [];
const notes: string[] = [];
const failures: Report["failures"] = [];

async function group(name: Group, run: () => Promise<RowResult>): Promise<void> {
	if (!wanted(name)) return;
	const t = now();
	process.stdout.write(`bench: ${name} (load average ${(loadavg()[0] ?? 0).toFixed(2)}) ...`);
	try {
		const result = await run();
		rows.push(...result.rows);
		notes.push(...(result.notes ?? []));
		process.stdout.write(` ${((now() - t) / 1000).toFixed(1)} s\n`);
	} catch (error) {
		const message = error instanceof Error ? error.message : String(error);
		failures.push({ group: name, error: message.split("\n")[0] ?? message });
		process.stdout.write(` failed after ${((now() - t) / 1000).toFixed(1)} s\n${message}\n`);
	}
}

const llm = await startScriptedLlm();
let idleRss: number[] = [];
try {
	await group("start", async () => {
		const r = await startRows();
		idleRss = r.idleRssMb;
		return r;
	});

	// One sidecar host for the rows that share a warm engine; the memory row gets a fresh one.
	if ([...GROUPS.slice(1, 7), "model"].some((g) => wanted(g as Group))) {
		const dirs = makeTempDirs("bench-");
		let host: SidecarHost | undefined;
		try {
			host = await startSidecarHost(dirs);
			const h = host;
			// The engine sets a project up on its first run (seconds); no row should time that.
			const warm = await createSession(h.base, llm, [{ kind: "text", text: "warm" }]);
			await waitEnded(h.base, warm.id);
			await group("probes", () => probeRows(h, llm));
			await group("create", () => createRows(h, llm));
			await group("relay", () => relayRows(h, llm));
			await group("replay", () => replayRows(h, llm));
			await group("fanout", () => fanoutRows(h, llm));
			await group("ui", () => uiRows(h, llm));
			await group("model", () => modelRows(h, llm));
		} catch (error) {
			failures.push({ group: "sidecar host", error: error instanceof Error ? error.message : String(error) });
		} finally {
			await host?.stop();
			dirs.cleanup();
		}
	}
	await group("memory", () => memoryRows(llm, idleRss));
	await group("history", () => historyRows());
	await group("growth", () => growthRows(llm));
	await group("workspace", () => workspaceRows());
	await group("tracing", () => tracingRows(llm));
	await group("envelope", () => envelopeRows(llm));
} finally {
	await llm.close();
}

const report: Report = {
	startedAt,
	seconds: Math.round((now() - started) / 100) / 10,
	machine: {
		cpus: cpus().length,
		cpu: cpus()[0]?.model ?? "unknown",
		bun: Bun.version,
		commit: gitDescribe(),
		// Anything else running on the machine (another engineer's tests, say) shows here.
		"load average (1 min) at start": loadAtStart.toFixed(2),
		"at end": (loadavg()[0] ?? 0).toFixed(2),
	},
	rows,
	failures,
	notes,
};
const markdown = renderMarkdown(report, FINDINGS, CHANGES);
process.stdout.write(`\n${markdown}`);
const json = `${JSON.stringify(report, null, "\t")}\n`;
if (asked.length === 0) {
	await Bun.write(join(REPO, "bench/results.json"), json);
	// In the repository's own format, so `biome ci` stays clean after a run.
	Bun.spawnSync([join(REPO, "node_modules/.bin/biome"), "format", "--write", "bench/results.json"], { cwd: REPO });
	await Bun.write(join(REPO, "bench/RESULTS.md"), markdown);
	process.stdout.write(`\nbench: wrote bench/results.json and bench/RESULTS.md in ${report.seconds} s\n`);
} else {
	const partial = join(tmpdir(), "opencode-sidecar-bench.json");
	await Bun.write(partial, json);
	process.stdout.write(`\nbench: partial run; details in ${partial}\n`);
}
process.exit(failures.length > 0 ? 1 : 0);

/** The commit measured, marked dirty when the work tree has changes (read-only git calls). */
function gitDescribe(): string {
	const head = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: REPO }).stdout.toString().trim();
	const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--", "src"], { cwd: REPO }).stdout.toString().trim();
	return `${head || "unknown"}${dirty ? " (src modified)" : ""}`;
}

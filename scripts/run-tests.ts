/**
 * The whole suite, as CI runs it: type-check, lint, then every test file (unit, http, k8s, e2e, faults,
 * browser), each file in its own `bun test` process with its own JUnit report, several at once (each file
 * starts its own sidecars, engines and scripted models on port 0 in its own temporary directories). It ends
 * with one line `N passed, M failed` (`, K skipped` when any), counted from the reports. Exits non-zero on
 * any failure, on a skipped or todo test, and when no test ran; a test skipped because a system package is
 * missing (test/support/system.ts) is counted and named with its install line, and fails the run only
 * under CI=true.
 *
 *   npm test                         everything
 *   npm test -- test/unit            only some directories or files
 *   npm test -- inspector -t "list"  files whose path contains a word; other options go to each bun test
 *   TEST_WORKERS=1 npm test          one file at a time
 */
import {
	closeSync,
	existsSync,
	mkdirSync,
	mkdtempSync,
	openSync,
	readFileSync,
	rmSync,
	statSync,
	writeFileSync,
} from "node:fs";
import { availableParallelism, freemem, tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { closingLine, countJunit, emptyCounts, order, workerCount } from "./test-runner/report";

/** Each test's bound: a test that restarts its sidecar three times (credentials-source) needs ~100 s on a quiet
 * 2-core machine and passed 180 s at load 15-25; a bound, not a wait. */
const TEST_TIMEOUT_MS = 300_000;

const repo = resolve(import.meta.dir, "..");
const bin = (name: string) => join(repo, "node_modules/.bin", name);
const LAYERS = ["test/unit", "test/http", "test/k8s", "test/e2e", "test/faults", "test/browser"];
const TIMES = join(repo, "test-artifacts/test-times.json");
// Per-file seconds measured on a 2-core machine, committed: a fresh checkout (CI) starts the longest files first too.
const MEASURED = join(repo, "scripts/test-runner/measured-seconds.json");
const CI = process.env.CI === "true";

// ---- arguments: existing paths, words matched against file paths, and options for bun test
const bunArgs: string[] = [];
const roots: string[] = [];
const words: string[] = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
	const a = args[i] ?? "";
	if (a.startsWith("-")) {
		bunArgs.push(a);
		if (/^(-t|--test-name-pattern|--timeout|--rerun-each|--seed)$/.test(a) && i + 1 < args.length)
			bunArgs.push(args[++i] ?? "");
	} else if (existsSync(join(repo, a))) roots.push(relative(repo, resolve(repo, a)));
	else words.push(a);
}
// With -t, the tests it leaves out are reported as skipped, and a file with none that match exits 1.
const filtering = bunArgs.some((a) => /^(-t|--test-name-pattern)/.test(a));
const everything = roots.length === 0 && words.length === 0 && bunArgs.length === 0;

function testFiles(): string[] {
	const found = new Set<string>();
	for (const root of roots.length > 0 ? roots : LAYERS) {
		if (statSync(join(repo, root)).isFile()) found.add(root);
		else for (const f of new Bun.Glob("**/*.test.ts").scanSync(join(repo, root))) found.add(join(root, f));
	}
	return [...found].filter((f) => words.every((w) => f.includes(w))).sort();
}

// ---- system packages every layer needs (the per-suite ones are test/support/system.ts's)
const required = [
	{ bin: "git", pkg: "git", why: "the workspaces' repositories" },
	{ bin: "rg", pkg: "ripgrep", why: "the engine's grep and glob tools (it would download it otherwise)" },
].filter((r) => Bun.which(r.bin) === null);
if (required.length > 0) {
	for (const r of required) console.error(`${r.bin} is not installed: ${r.why}`);
	console.error(`install: apt-get install -y ${required.map((r) => r.pkg).join(" ")} (or: npm run setup)`);
	console.log(`\n${closingLine(0, 1, 0)}`);
	process.exit(1);
}

// ---- jobs
interface Job {
	readonly label: string;
	readonly cmd: string[];
	readonly report?: string;
}
const out = mkdtempSync(join(tmpdir(), "sidecar-tests-"));
const files = testFiles();
let lastSeconds: Record<string, number> = {};
try {
	lastSeconds = JSON.parse(readFileSync(TIMES, "utf8"));
} catch {
	// First run here: the committed measurements (then the layers' usual weights) order the files.
}
const checks: Job[] = everything
	? [
			{ label: "typecheck", cmd: [bin("tsc"), "-p", "."] },
			{ label: "lint", cmd: [bin("biome"), "ci", "--colors=off", "."] },
		]
	: [];
const jobs: Job[] = [
	...checks,
	...files.map((file, i) => {
		const report = join(out, `${i}.xml`);
		const cmd = [
			bin("bun"),
			"test",
			"--timeout",
			String(TEST_TIMEOUT_MS),
			"--reporter=junit",
			`--reporter-outfile=${report}`,
		];
		return { label: file, report, cmd: [...cmd, ...bunArgs, `./${file}`] };
	}),
];
const byLabel = new Map(jobs.map((j) => [j.label, j]));
const measured = JSON.parse(readFileSync(MEASURED, "utf8")) as Record<string, number>;
const queue = order([...byLabel.keys()], lastSeconds, measured).map((label) => byLabel.get(label) as Job);
const workers = Number(process.env.TEST_WORKERS) || workerCount(availableParallelism(), freemem(), jobs.length);
console.log(`${files.length} test files${everything ? ", typecheck and lint" : ""} on ${workers} workers`);

// Each file runs in a process group of its own: whatever it leaves running (a failed test's sidecar or engine)
// is killed when it ends, so it cannot weigh on the files after it, and an interrupted run leaves nothing.
const running = new Set<number>();
const killGroup = (pid: number, signal: NodeJS.Signals) => {
	try {
		process.kill(-pid, signal);
	} catch {
		// The group is empty.
	}
};
for (const signal of ["SIGINT", "SIGTERM"] as const)
	process.on(signal, () => {
		for (const pid of running) killGroup(pid, "SIGKILL");
		rmSync(out, { recursive: true, force: true });
		process.exit(130);
	});

interface Done {
	readonly job: Job;
	readonly code: number;
	readonly seconds: number;
	readonly matchedNone: boolean;
}
const done: Done[] = [];
const started = performance.now();

async function worker(): Promise<void> {
	for (let job = queue.shift(); job; job = queue.shift()) {
		const t0 = performance.now();
		const log = join(out, `${jobs.indexOf(job)}.log`);
		// One file's output at a time, whole, when it ends (the workers would interleave it otherwise).
		const fd = openSync(log, "w");
		const proc = Bun.spawn(job.cmd, { cwd: repo, stdout: fd, stderr: fd, env: process.env, detached: true });
		running.add(proc.pid);
		const code = await proc.exited;
		killGroup(proc.pid, "SIGKILL");
		running.delete(proc.pid);
		closeSync(fd);
		const seconds = (performance.now() - t0) / 1000;
		const text = readFileSync(log, "utf8").trimEnd();
		done.push({ job, code, seconds, matchedNone: filtering && /matched 0 tests/.test(text) });
		process.stdout.write(
			`\n=== ${job.label} (${seconds.toFixed(1)} s${code === 0 ? "" : `, exit ${code}`})\n${text}\n`,
		);
	}
}
await Promise.all(Array.from({ length: workers }, worker));

// ---- counting
const counts = emptyCounts();
let checksPassed = 0;
let checksFailed = 0;
for (const d of done) {
	if (!d.job.report) {
		if (d.code === 0) checksPassed++;
		else checksFailed++;
		continue;
	}
	let xml = "";
	try {
		xml = readFileSync(d.job.report, "utf8");
	} catch {
		// No report: bun test failed before running anything.
	}
	if (d.matchedNone) continue;
	const file = countJunit(xml);
	if (filtering) file.otherSkips = [];
	// The process failed with no failing test in its report (an error outside any test, a crash).
	if (d.code !== 0 && file.failed === 0) {
		file.failed++;
		console.error(`${d.job.label}: bun test exited ${d.code} outside any counted test`);
	}
	counts.passed += file.passed;
	counts.failed += file.failed;
	counts.missing += file.missing;
	counts.otherSkips.push(...file.otherSkips);
	for (const p of file.packages) counts.packages.add(p);
}
rmSync(out, { recursive: true, force: true });

const fileTimes = done.filter((d) => d.job.report).sort((a, b) => b.seconds - a.seconds);
// The next run's order (what did not run this time keeps its last time).
mkdirSync(join(repo, "test-artifacts"), { recursive: true });
const times = { ...lastSeconds, ...Object.fromEntries(done.map((d) => [d.job.label, Math.round(d.seconds)])) };
writeFileSync(TIMES, `${JSON.stringify(times, null, 1)}\n`);
const wall = (performance.now() - started) / 1000;
console.log(`\nslowest files (of ${fileTimes.length}, ${workers} workers, ${Math.round(wall)} s in all):`);
for (const d of fileTimes.slice(0, 10)) console.log(`  ${d.seconds.toFixed(1).padStart(6)} s  ${d.job.label}`);

if (counts.otherSkips.length > 0) {
	console.error("\nskipped or todo tests (not allowed):");
	for (const s of counts.otherSkips) console.error(`  ${s}`);
}
if (counts.missing > 0) {
	const pkgs = [...counts.packages].join(" ");
	console.error(`\n${counts.missing} tests skipped: system packages not installed: ${pkgs}`);
	console.error(
		`install them with: apt-get install -y ${pkgs} (or: npm run setup)${CI ? "; under CI this fails the run" : ""}`,
	);
}
// A skip that is not a missing package counts as a failure; a missing package does too under CI.
const passed = counts.passed + checksPassed;
const failed = counts.failed + checksFailed + counts.otherSkips.length + (CI ? counts.missing : 0);
if (counts.passed === 0) console.error("no test ran");
console.log(`\n${closingLine(passed, failed, CI ? 0 : counts.missing)}`);
process.exit(failed > 0 || counts.passed === 0 ? 1 : 0);

/**
 * The whole suite, as CI runs it: type-check, lint, then every test layer
 * (unit, http, e2e) through `bun test` with a JUnit report, ending with one
 * line `N passed, M failed` counted from that report. Exits non-zero on any
 * failure, on a skipped or todo test, and when no test ran.
 *
 *   npm test                 everything
 *   npm test -- test/unit    only some paths (passed on to bun test)
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const repo = resolve(import.meta.dir, "..");
const bin = (name: string) => join(repo, "node_modules/.bin", name);
const paths = process.argv.slice(2);

function run(label: string, cmd: string[]): number {
	process.stdout.write(`\n=== ${label}: ${cmd.map((c) => c.replace(`${repo}/`, "")).join(" ")}\n`);
	const r = Bun.spawnSync(cmd, {
		cwd: repo,
		stdout: "inherit",
		stderr: "inherit",
		env: process.env,
	});
	return r.exitCode ?? 1;
}

// Type-checking and linting count as one check each in the summary.
let checksPassed = 0;
let checksFailed = 0;
if (paths.length === 0) {
	for (const [label, cmd] of [
		["typecheck", [bin("tsc"), "-p", "."]],
		["lint", [bin("biome"), "ci", "--colors=off", "."]],
	] as const) {
		if (run(label, [...cmd]) === 0) checksPassed++;
		else checksFailed++;
	}
}

const out = mkdtempSync(join(tmpdir(), "sidecar-junit-"));
const report = join(out, "junit.xml");
const code = run("tests", [
	bin("bun"),
	"test",
	"--timeout",
	"180000",
	"--reporter=junit",
	`--reporter-outfile=${report}`,
	...(paths.length > 0 ? paths : ["test/unit", "test/http", "test/k8s", "test/e2e", "test/faults", "test/browser"]),
]);

let xml = "";
try {
	xml = readFileSync(report, "utf8");
} catch {
	// No report: bun test failed before running anything.
}
rmSync(out, { recursive: true, force: true });
const cases = [...xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)];
let passed = 0;
let failures = 0;
let skipped = 0;
for (const c of cases) {
	const inner = c[2] ?? "";
	if (/<(failure|error)\b/.test(inner)) failures++;
	else if (/<skipped\b/.test(inner)) skipped++;
	else passed++;
}
if (code !== 0 && failures === 0) failures = 1; // the runner itself failed (e.g. an error outside any test)
if (passed === 0) console.error("no test ran");
const skippedNote = skipped > 0 ? `, ${skipped} skipped` : "";
console.log(`\n${passed + checksPassed} passed, ${failures + checksFailed} failed${skippedNote}`);
process.exit(failures + checksFailed > 0 || skipped > 0 || passed === 0 ? 1 : 0);

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
	process.stdout.write(
		`\n=== ${label}: ${cmd.map((c) => c.replace(`${repo}/`, "")).join(" ")}\n`,
	);
	const r = Bun.spawnSync(cmd, {
		cwd: repo,
		stdout: "inherit",
		stderr: "inherit",
		env: process.env,
	});
	return r.exitCode ?? 1;
}

let failed = 0;
if (paths.length === 0) {
	if (run("typecheck", [bin("tsc"), "-p", "."]) !== 0) failed++;
	if (run("lint", [bin("biome"), "ci", "."]) !== 0) failed++;
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
	...(paths.length > 0 ? paths : ["test/unit", "test/http", "test/e2e"]),
]);

let xml = "";
try {
	xml = readFileSync(report, "utf8");
} catch {
	// No report: bun test failed before running anything.
}
rmSync(out, { recursive: true, force: true });
const cases = [
	...xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g),
];
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
const extra = failed > 0 ? ` (and ${failed} of typecheck/lint failed)` : "";
console.log(
	`\n${passed} passed, ${failures} failed${skipped > 0 ? `, ${skipped} skipped` : ""}${extra}`,
);
if (passed === 0) console.error("no test ran");
process.exit(failures > 0 || failed > 0 || skipped > 0 || passed === 0 ? 1 : 0);

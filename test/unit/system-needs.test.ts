import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { countJunit } from "../../scripts/test-runner/report";

const BUN = resolve(import.meta.dir, "../../node_modules/.bin/bun");
const dir = mkdtempSync(join(tmpdir(), "system-needs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A suite needing Firefox, run by bun test (in its own directory: no preload) with FIREFOX_BIN pointing nowhere.
writeFileSync(
	join(dir, "needs.test.ts"),
	`import { testNeeding, NEEDS } from ${JSON.stringify(resolve(import.meta.dir, "../support/system.ts"))};
const test = testNeeding(NEEDS.firefox);
test("drives Firefox", () => { throw new Error("ran without Firefox"); });
`,
);

function run(env: Record<string, string>) {
	const report = join(dir, `${crypto.randomUUID()}.xml`);
	const r = Bun.spawnSync([BUN, "test", "--reporter=junit", `--reporter-outfile=${report}`, "./needs.test.ts"], {
		cwd: dir,
		env: { PATH: process.env.PATH ?? "/usr/bin:/bin", FIREFOX_BIN: join(dir, "no-firefox"), ...env },
	});
	return { code: r.exitCode, output: r.stderr.toString(), counts: countJunit(readFileSync(report, "utf8")) };
}

test("outside CI a missing package skips the suite's tests, naming it and its install line", () => {
	const { code, output, counts } = run({ CI: "" });
	expect(code).toBe(0);
	expect(counts).toMatchObject({ passed: 0, failed: 0, missing: 1, otherSkips: [] });
	expect([...counts.packages]).toEqual(["firefox-esr"]);
	expect(output).toContain("apt-get install -y firefox-esr");
});

test("under CI=true a missing package fails the suite's tests with the same line", () => {
	const { code, output, counts } = run({ CI: "true" });
	expect(code).not.toBe(0);
	expect(counts).toMatchObject({ passed: 0, failed: 1, missing: 0 });
	expect(output).toContain("no-firefox not installed: apt-get install -y firefox-esr");
});

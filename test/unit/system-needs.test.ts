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

// The Kubernetes suites make their test certificates with openssl (missing from a fresh root): without it their
// tests are counted skips outside CI and failures under it, and no hook breaks on the missing certificates.
const K8S_SUITES = ["test/k8s/reporter.test.ts", "test/k8s/sidecar-reporter.test.ts"];
const REPO = resolve(import.meta.dir, "../..");

function runSuite(file: string, env: Record<string, string>) {
	const report = join(dir, `${crypto.randomUUID()}.xml`);
	const r = Bun.spawnSync([BUN, "test", "--reporter=junit", `--reporter-outfile=${report}`, `./${file}`], {
		cwd: REPO,
		env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, OPENSSL_BIN: join(dir, "no-openssl"), ...env },
	});
	return { code: r.exitCode, output: r.stderr.toString(), counts: countJunit(readFileSync(report, "utf8")) };
}

for (const file of K8S_SUITES) {
	test(`${file} without openssl: skipped outside CI with the install line, failed under CI=true`, () => {
		const outside = runSuite(file, { CI: "" });
		expect(outside.code).toBe(0);
		expect(outside.counts).toMatchObject({ passed: 0, failed: 0, otherSkips: [] });
		expect(outside.counts.missing).toBeGreaterThan(0);
		expect([...outside.counts.packages]).toEqual(["openssl"]);
		expect(outside.output).toContain("apt-get install -y openssl");
		const underCi = runSuite(file, { CI: "true" });
		expect(underCi.code).not.toBe(0);
		expect(underCi.counts).toMatchObject({ passed: 0, missing: 0, failed: outside.counts.missing });
		expect(underCi.output).toContain("no-openssl not installed: apt-get install -y openssl");
	});
}

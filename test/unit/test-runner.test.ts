import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { closingLine, countJunit, order, workerCount } from "../../scripts/test-runner/report";
import { MISSING_MARK } from "../support/system";

const REPO = resolve(import.meta.dir, "../..");
const MEASURED = join(REPO, "scripts/test-runner/measured-seconds.json");

// As bun test --reporter=junit writes it (1.4.5): nested suites, skipped and failed cases.
const xml = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="bun test" tests="5" assertions="2" failures="1" skipped="3" time="0.2">
  <testsuite name="test/browser/x.test.ts" file="test/browser/x.test.ts" tests="5">
    <testsuite name="d" file="test/browser/x.test.ts" line="2" tests="2">
      <testcase name="loads the page ${MISSING_MARK}chromium]" classname="d" time="0" file="test/browser/x.test.ts" line="2" assertions="0">
        <skipped />
      </testcase>
      <testcase name="passes" classname="d" time="0.01" file="test/browser/x.test.ts" line="3" assertions="1" />
    </testsuite>
    <testcase name="two &gt; one ${MISSING_MARK}chromium firefox-esr]" classname="" time="0" file="test/browser/x.test.ts" line="4" assertions="0">
      <skipped />
    </testcase>
    <testcase name="not yet" classname="" time="0" file="test/browser/x.test.ts" line="5" assertions="0">
      <skipped />
    </testcase>
    <testcase name="fails" classname="" time="0.1" file="test/browser/x.test.ts" line="6" assertions="1">
      <failure message="expect(received).toBe(expected)" type="AssertionError" />
    </testcase>
  </testsuite>
</testsuites>`;

test("a JUnit report's cases: passed, failed, skipped for a missing system package, and any other skip", () => {
	const c = countJunit(xml);
	expect(c.passed).toBe(1);
	expect(c.failed).toBe(1);
	expect(c.missing).toBe(2);
	expect([...c.packages].sort()).toEqual(["chromium", "firefox-esr"]);
	expect(c.otherSkips).toEqual(["test/browser/x.test.ts: not yet"]);
	// Counting adds up across the workers' reports.
	expect(countJunit(xml, c).passed).toBe(2);
});

test("the closing line CI reads names the skipped only when there are some", () => {
	expect(closingLine(746, 0, 4)).toBe("746 passed, 0 failed, 4 skipped");
	expect(closingLine(750, 1, 0)).toBe("750 passed, 1 failed");
});

test("files run slowest first: the last run's times, else engine layers, the checks, then in-process files", () => {
	const files = ["test/unit/a.test.ts", "test/http/b.test.ts", "test/e2e/c.test.ts", "test/unit/d.test.ts", "lint"];
	expect(order(files, {})).toEqual([
		"test/e2e/c.test.ts",
		"lint",
		"test/http/b.test.ts",
		"test/unit/a.test.ts",
		"test/unit/d.test.ts",
	]);
	expect(order(files, { "test/unit/d.test.ts": 90, "test/e2e/c.test.ts": 20, lint: 5 })).toEqual([
		"test/unit/d.test.ts",
		"test/e2e/c.test.ts",
		"test/http/b.test.ts",
		"lint",
		"test/unit/a.test.ts",
	]);
});

test("a fresh checkout (no last run) orders by the committed measurements, then by layer; a last run wins", () => {
	const files = ["test/unit/a.test.ts", "test/http/b.test.ts", "test/e2e/c.test.ts", "lint"];
	const measured = { "test/http/b.test.ts": 120, "test/unit/a.test.ts": 40 };
	expect(order(files, {}, measured)).toEqual([
		"test/http/b.test.ts",
		"test/e2e/c.test.ts",
		"test/unit/a.test.ts",
		"lint",
	]);
	expect(order(files, { "test/http/b.test.ts": 2 }, measured)).toEqual([
		"test/e2e/c.test.ts",
		"test/unit/a.test.ts",
		"lint",
		"test/http/b.test.ts",
	]);
});

test("the committed measurements name only the checks and test files that exist, each with its seconds", () => {
	const measured = JSON.parse(readFileSync(MEASURED, "utf8")) as Record<string, unknown>;
	expect(Object.keys(measured).length).toBeGreaterThan(50);
	for (const [file, seconds] of Object.entries(measured)) {
		expect(file === "typecheck" || file === "lint" || existsSync(join(REPO, file)) || file).toBe(true);
		expect(typeof seconds).toBe("number");
	}
});

test("workers: one more than the cores, fewer when memory or the files are short, never none", () => {
	expect(workerCount(2, 16e9, 70)).toBe(3);
	expect(workerCount(8, 3e9, 70)).toBe(2);
	expect(workerCount(8, 16e9, 2)).toBe(2);
	expect(workerCount(1, 0, 0)).toBe(1);
});

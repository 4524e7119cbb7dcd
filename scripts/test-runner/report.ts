/**
 * The pure half of scripts/run-tests.ts: counting JUnit reports (bun test's), telling a skip for a
 * missing system package (test/support/system.ts marks its name) from any other skip, ordering the
 * files for the workers, and the closing line.
 */

/** As test/support/system.ts writes it into a skipped test's name. */
const MISSING = /\[missing system package: ([^\]]+)\]/;

export interface Counts {
	passed: number;
	failed: number;
	/** Skipped because a system package is missing (allowed outside CI). */
	missing: number;
	/** Skipped or todo for any other reason (always a failure of the run). */
	otherSkips: string[];
	/** Packages named by the missing-package skips. */
	packages: Set<string>;
}

export const emptyCounts = (): Counts => ({ passed: 0, failed: 0, missing: 0, otherSkips: [], packages: new Set() });

const attr = (tag: string, name: string) => {
	const m = new RegExp(`\\b${name}="([^"]*)"`).exec(tag);
	return (m?.[1] ?? "")
		.replaceAll("&gt;", ">")
		.replaceAll("&lt;", "<")
		.replaceAll("&quot;", '"')
		.replaceAll("&amp;", "&");
};

/** Adds one JUnit report's test cases to `into`. */
export function countJunit(xml: string, into: Counts = emptyCounts()): Counts {
	for (const c of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
		const inner = c[3] ?? "";
		if (/<(failure|error)\b/.test(inner)) into.failed++;
		else if (/<skipped\b/.test(inner)) {
			const name = attr(c[1] ?? "", "name");
			const m = MISSING.exec(name);
			if (m?.[1]) {
				into.missing++;
				for (const p of m[1].split(" ")) into.packages.add(p);
			} else into.otherSkips.push(`${attr(c[1] ?? "", "file")}: ${name}`);
		} else into.passed++;
	}
	return into;
}

/** The plain closing line CI reads: `N passed, M failed` and `, K skipped` when any were. */
export function closingLine(passed: number, failed: number, skipped: number): string {
	return `${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`;
}

/**
 * Slowest first: the last run's seconds where known (this checkout's test-artifacts/test-times.json), else
 * the seconds measured and committed with the runner (`measured`, for a fresh checkout such as CI's), else
 * the layer's usual weight (engine files first, then the checks, typecheck and lint, then the in-process
 * files). Starting the longest files first keeps one of them from running alone at the end.
 */
export function order(
	files: readonly string[],
	lastSeconds: Readonly<Record<string, number>>,
	measured: Readonly<Record<string, number>> = {},
): string[] {
	const layer = (f: string) => {
		if (/^test\/(browser|e2e|faults)\//.test(f)) return 60;
		if (!f.startsWith("test/")) return 30;
		return /^test\/(http|k8s)\//.test(f) ? 15 : 3;
	};
	const weight = (f: string) => lastSeconds[f] ?? measured[f] ?? layer(f);
	return [...files].sort((a, b) => weight(b) - weight(a) || a.localeCompare(b));
}

/**
 * How many files run at once: the engine's tests are mostly waiting (on the engine, the scripted model,
 * timers), so one more than the cores, bounded by memory (a file with its engine, sidecar and maybe a
 * browser takes up to ~1 GB) and by the number of files.
 */
export function workerCount(cores: number, freeBytes: number, files: number): number {
	const byMemory = Math.max(1, Math.floor(freeBytes / 1.2e9));
	return Math.max(1, Math.min(cores + 1, byMemory, files));
}

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import pkg from "../../package.json";

// The 2.x engine's client is generated from the engine's own OpenAPI document (src/engine/v2/README.md):
// what is committed must be exactly what the pinned generator makes of the committed document.

const REPO = resolve(import.meta.dir, "../..");
const GEN = join(REPO, "src/engine/v2/gen");
const out = mkdtempSync(join(tmpdir(), "engine-v2-gen-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function files(dir: string): Record<string, string> {
	const all: Record<string, string> = {};
	for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
		if (!entry.isFile()) continue;
		const path = join(entry.parentPath, entry.name);
		all[relative(dir, path)] = readFileSync(path, "utf8");
	}
	return all;
}

describe("the generated OpenCode 2.x client", () => {
	test("regenerating it from src/engine/v2/openapi.json with the pinned generator yields the same bytes", async () => {
		const script = pkg.scripts["gen:engine-v2"].replace("src/engine/v2/gen", out);
		const proc = Bun.spawn(["sh", "-c", script], { cwd: REPO, stdout: "pipe", stderr: "pipe" });
		const code = await proc.exited;
		expect({ code, stderr: code === 0 ? "" : await new Response(proc.stderr).text() }).toEqual({ code: 0, stderr: "" });
		const committed = files(GEN);
		expect(Object.keys(committed).length).toBeGreaterThan(0);
		expect(files(out)).toEqual(committed);
	}, 300_000);

	test("the generator is pinned exactly", () => {
		expect(pkg.devDependencies["@hey-api/openapi-ts"]).toMatch(/^\d+\.\d+\.\d+$/);
	});
});

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, linkSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

// scripts/prune-engine-binaries.mjs (package.json's postinstall) on a node_modules laid out as npm and the
// engine's postinstall leave it: the picked variant's binary hard-linked over the engine's bin stub.

const SCRIPT = resolve(import.meta.dir, "../../scripts/prune-engine-binaries.mjs");
const root = mkdtempSync(join(tmpdir(), "prune-engines-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function write(path: string, text: string): string {
	mkdirSync(join(path, ".."), { recursive: true });
	writeFileSync(path, text);
	return path;
}

function engine(modules: string, name: string, variants: string[], picked: string | undefined): void {
	const optionalDependencies = Object.fromEntries(variants.map((v) => [v, "1.0.0"]));
	write(
		join(modules, name, "package.json"),
		JSON.stringify({ name, bin: { opencode: "bin/opencode.exe" }, optionalDependencies }),
	);
	for (const v of variants) {
		write(join(modules, v, "package.json"), JSON.stringify({ name: v }));
		write(join(modules, v, "bin/opencode"), `binary of ${v}`);
	}
	const stub = join(modules, name, "bin/opencode.exe");
	if (picked) {
		mkdirSync(join(stub, ".."), { recursive: true });
		linkSync(join(modules, picked, "bin/opencode"), stub);
	} else write(stub, "stub");
}

const prune = (modules: string) => Bun.spawnSync(["node", SCRIPT, modules]);

describe("pruning the engines' unused platform binaries", () => {
	test("only the picked variant's binary stays; every variant's package.json stays (npm counts them installed)", () => {
		const modules = join(root, "a");
		const variants = ["@opencode/cli-linux-x64", "@opencode/cli-linux-x64-baseline", "@opencode/cli-linux-x64-musl"];
		engine(modules, "@opencode/cli", variants, "@opencode/cli-linux-x64");
		expect(prune(modules).exitCode).toBe(0);
		expect(existsSync(join(modules, "@opencode/cli-linux-x64/bin/opencode"))).toBe(true);
		expect(existsSync(join(modules, "@opencode/cli-linux-x64-baseline/bin/opencode"))).toBe(false);
		expect(existsSync(join(modules, "@opencode/cli-linux-x64-musl/bin/opencode"))).toBe(false);
		for (const v of variants) expect(existsSync(join(modules, v, "package.json"))).toBe(true);
		expect(existsSync(join(modules, "@opencode/cli/bin/opencode.exe"))).toBe(true);
	});

	test("nothing goes when the engine's postinstall did not link a variant", () => {
		const modules = join(root, "b");
		engine(modules, "opencode-ai", ["opencode-linux-x64", "opencode-linux-x64-baseline"], undefined);
		expect(prune(modules).exitCode).toBe(0);
		expect(existsSync(join(modules, "opencode-linux-x64/bin/opencode"))).toBe(true);
		expect(existsSync(join(modules, "opencode-linux-x64-baseline/bin/opencode"))).toBe(true);
	});
});

import { describe, expect, test } from "bun:test";
import {
	existsSync,
	lstatSync,
	mkdirSync,
	mkdtempSync,
	readFileSync,
	readlinkSync,
	rmSync,
	writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prepareEngineEnvironment } from "../../src/engine/environment";
import { engineConfigDir, seedEngineConfig } from "../../src/engine/seed";

describe("engine seed", () => {
	function seedDir(root: string, version: string): string {
		const seed = join(root, `seed-${version}`);
		mkdirSync(join(seed, "node_modules", "@opencode-ai", "plugin"), { recursive: true });
		writeFileSync(join(seed, "node_modules", "@opencode-ai", "plugin", "package.json"), JSON.stringify({ version }));
		writeFileSync(join(seed, "package.json"), JSON.stringify({ dependencies: { "@opencode-ai/plugin": version } }));
		writeFileSync(
			join(seed, "package-lock.json"),
			JSON.stringify({ packages: { "": { dependencies: { "@opencode-ai/plugin": version } } } }),
		);
		writeFileSync(join(seed, ".gitignore"), "node_modules\npackage.json\npackage-lock.json\nbun.lock\n.gitignore");
		return seed;
	}

	test("links the image's node_modules into the engine's config directory and copies the manifests", () => {
		const root = mkdtempSync(join(tmpdir(), "engine-seed-"));
		try {
			const config = engineConfigDir(join(root, "state", "engine"));
			expect(config).toBe(join(root, "state", "engine", "home", ".config", "opencode"));
			const v1 = seedDir(root, "1.0.0");
			expect(seedEngineConfig(config, v1)).toBe("linked");
			expect(readlinkSync(join(config, "node_modules"))).toBe(join(v1, "node_modules"));
			// What the engine checks before installing: node_modules exists and the lockfile root lists the plugin.
			const lock = JSON.parse(readFileSync(join(config, "package-lock.json"), "utf8"));
			expect(Object.keys(lock.packages[""].dependencies)).toEqual(["@opencode-ai/plugin"]);
			expect(existsSync(join(config, "node_modules", "@opencode-ai", "plugin", "package.json"))).toBe(true);
			// Again at the next start: nothing changes.
			expect(seedEngineConfig(config, v1)).toBe("linked");
			// A newer image: the link and the manifests follow it.
			const v2 = seedDir(root, "2.0.0");
			expect(seedEngineConfig(config, v2)).toBe("linked");
			expect(readlinkSync(join(config, "node_modules"))).toBe(join(v2, "node_modules"));
			expect(readFileSync(join(config, "package.json"), "utf8")).toContain("2.0.0");
		} finally {
			rmSync(root, { recursive: true, force: true });
		}
	});

	test("leaves a node_modules the engine installed itself alone", () => {
		const root = mkdtempSync(join(tmpdir(), "engine-seed-"));
		try {
			const config = engineConfigDir(join(root, "state", "engine"));
			mkdirSync(join(config, "node_modules"), { recursive: true });
			writeFileSync(join(config, "package.json"), "{}");
			expect(seedEngineConfig(config, seedDir(root, "1.0.0"))).toBe("kept");
			expect(lstatSync(join(config, "node_modules")).isDirectory()).toBe(true);
			expect(readFileSync(join(config, "package.json"), "utf8")).toBe("{}");
		} finally {
			rmSync(root, { recursive: true, force: true });
		}
	});

	test("without a seed, marks the install done the way the engine checks it, keeping files already there", () => {
		const root = mkdtempSync(join(tmpdir(), "engine-seed-"));
		try {
			const config = engineConfigDir(join(root, "engine"));
			expect(seedEngineConfig(config)).toBe("marked");
			expect(lstatSync(join(config, "node_modules")).isDirectory()).toBe(true);
			const lock = JSON.parse(readFileSync(join(config, "package-lock.json"), "utf8"));
			const manifest = JSON.parse(readFileSync(join(config, "package.json"), "utf8"));
			expect(Object.keys(lock.packages[""].dependencies)).toEqual(Object.keys(manifest.dependencies));
			expect(Object.keys(manifest.dependencies)).toEqual(["@opencode-ai/plugin"]);
			writeFileSync(join(config, "package.json"), "{}");
			expect(seedEngineConfig(config)).toBe("marked");
			expect(readFileSync(join(config, "package.json"), "utf8")).toBe("{}");
		} finally {
			rmSync(root, { recursive: true, force: true });
		}
	});

	test("the engine's environment seeds the config directory it points the engine at; a linked seed stays linked", () => {
		const root = mkdtempSync(join(tmpdir(), "engine-seed-"));
		try {
			const engineDir = join(root, "engine");
			const seed = seedDir(root, "1.0.0");
			expect(seedEngineConfig(engineConfigDir(engineDir), seed)).toBe("linked");
			const env = prepareEngineEnvironment(engineDir, {}, "password");
			expect(join(env.XDG_CONFIG_HOME as string, "opencode")).toBe(engineConfigDir(engineDir));
			expect(readlinkSync(join(engineConfigDir(engineDir), "node_modules"))).toBe(join(seed, "node_modules"));
			expect(readFileSync(join(engineConfigDir(engineDir), "package.json"), "utf8")).toContain("1.0.0");
			const bare = join(root, "bare");
			prepareEngineEnvironment(bare, {}, "password");
			expect(existsSync(join(engineConfigDir(bare), "package-lock.json"))).toBe(true);
		} finally {
			rmSync(root, { recursive: true, force: true });
		}
	});

	test("refuses a directory that is not a seed", () => {
		const root = mkdtempSync(join(tmpdir(), "engine-seed-"));
		try {
			expect(() => seedEngineConfig(engineConfigDir(root), join(root, "nothing"))).toThrow(/not an engine seed/);
		} finally {
			rmSync(root, { recursive: true, force: true });
		}
	});
});

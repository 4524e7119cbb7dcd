#!/usr/bin/env node
// npm installs every platform variant of an engine package that matches os and cpu (OpenCode 2.x: four
// linux-x64 binaries of 214 MB; 1.x: two of 185 MB): npm cannot tell glibc from musl or AVX2 from baseline,
// since the packages do not declare libc. The engine's own postinstall picks one and hard-links it over its
// bin stub; this removes the binaries of the variants it did not pick. Their package.json stays, so npm
// still counts them installed and does not fetch them again. Nothing is removed unless the engine's bin is
// a hard link to one variant's (its postinstall ran and picked it). Written by hand: no npm option does it.
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";

// The node_modules to prune: the argument, else this repository's.
const root = process.argv[2] ?? join(dirname(new URL(import.meta.url).pathname), "..", "node_modules");
const ENGINES = ["opencode-ai", "@opencode/cli"];
let freed = 0;
for (const name of ENGINES) {
	const dir = join(root, name);
	let pkg;
	try {
		pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
	} catch {
		continue; // not installed
	}
	const bin = join(dir, Object.values(pkg.bin ?? {})[0] ?? "");
	let chosen;
	try {
		chosen = statSync(bin);
	} catch {
		continue;
	}
	if (chosen.nlink < 2) continue; // its postinstall did not link a variant: keep everything
	for (const variant of Object.keys(pkg.optionalDependencies ?? {})) {
		const binDir = join(root, variant, "bin");
		let entries;
		try {
			entries = readdirSync(binDir);
		} catch {
			continue; // another platform's: not installed
		}
		for (const entry of entries) {
			const file = join(binDir, entry);
			const st = statSync(file);
			if (st.ino === chosen.ino && st.dev === chosen.dev) continue;
			rmSync(file);
			freed += st.size;
		}
	}
}
if (freed > 0)
	console.log(`prune-engine-binaries: removed ${Math.round(freed / 2 ** 20)} MiB of unused engine variants`);

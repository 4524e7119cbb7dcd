import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** Every place (file path, or label of a text) where one of `secrets` appears. */
export function findSecrets(
	secrets: readonly string[],
	where: { texts?: Record<string, string>; dirs?: readonly string[] },
): string[] {
	const hits: string[] = [];
	const needles = secrets.map((s) => Buffer.from(s));
	for (const [label, text] of Object.entries(where.texts ?? {})) {
		for (const s of secrets) if (text.includes(s)) hits.push(`${label} contains ${s.slice(0, 6)}…`);
	}
	const walk = (dir: string) => {
		for (const name of readdirSync(dir)) {
			const path = join(dir, name);
			const st = statSync(path, { throwIfNoEntry: false });
			if (!st) continue;
			if (st.isDirectory()) walk(path);
			else if (st.isFile()) {
				const bytes = readFileSync(path);
				for (const n of needles) if (bytes.includes(n)) hits.push(`${path} contains ${n.toString().slice(0, 6)}…`);
			}
		}
	};
	for (const d of where.dirs ?? []) walk(d);
	return hits;
}

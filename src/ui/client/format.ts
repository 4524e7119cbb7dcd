/** Pure formatting helpers of the inspector page (tested in test/unit/ui-format.test.ts). */

export type DiffLineKind = "add" | "del" | "hunk" | "meta" | "context";

/** A unified diff split into lines, each with what colours it. */
export function diffLines(diff: string): { kind: DiffLineKind; text: string }[] {
	const lines = diff.split("\n");
	if (lines.at(-1) === "") lines.pop();
	return lines.map((text) => {
		if (text.startsWith("+++") || text.startsWith("---") || /^(diff|index|new file|deleted file|Index:|=+$)/.test(text))
			return { kind: "meta", text };
		if (text.startsWith("@@")) return { kind: "hunk", text };
		if (text.startsWith("+")) return { kind: "add", text };
		if (text.startsWith("-")) return { kind: "del", text };
		return { kind: "context", text };
	});
}

/** One line saying what a tool call does, from its arguments (the full arguments are shown folded). */
export function describeCall(tool: string, args: Record<string, unknown>): string {
	const pick = (...keys: string[]) => {
		for (const k of keys) if (typeof args[k] === "string" && args[k]) return args[k] as string;
		return undefined;
	};
	const main =
		tool === "bash" ? pick("command") : pick("filePath", "path", "pattern", "url", "query", "description", "prompt");
	const text = main ?? (Object.keys(args).length ? JSON.stringify(args) : "");
	return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}

/** Seconds left until `expiresAt` (ISO time), never negative. */
export function secondsLeft(expiresAt: string, now: number): number {
	const t = Date.parse(expiresAt);
	return Number.isNaN(t) ? 0 : Math.max(0, Math.ceil((t - now) / 1000));
}

/** An ISO time as `YYYY-MM-DD HH:MM:SS` UTC, or a dash for none. */
export function shortTime(iso: string | null | undefined): string {
	if (!iso) return "–";
	return iso.replace("T", " ").replace(/\.\d+Z$|Z$/, "");
}

/** The path under /ui the page was opened at → what to show. */
export function route(pathname: string): { view: "list" } | { view: "session"; id: string } | { view: "unknown" } {
	const p = pathname.replace(/\/+$/, "");
	if (p === "/ui") return { view: "list" };
	const m = /^\/ui\/sessions\/([^/]+)$/.exec(p);
	if (m?.[1]) return { view: "session", id: decodeURIComponent(m[1]) };
	return { view: "unknown" };
}

/** Ascending ids as compact ranges: [1,2,3,5,7,8] → "1-3,5,7-8". */
export function idRanges(ids: readonly number[]): string {
	const out: string[] = [];
	let i = 0;
	while (i < ids.length) {
		const start = ids[i] as number;
		let end = start;
		while (i + 1 < ids.length && ids[i + 1] === end + 1) end = ids[++i] as number;
		out.push(start === end ? String(start) : `${start}-${end}`);
		i++;
	}
	return out.join(",");
}

/** The inverse of {@link idRanges}. */
export function expandRanges(ranges: string): number[] {
	if (!ranges) return [];
	return ranges.split(",").flatMap((r) => {
		const [a, b] = r.split("-").map(Number) as [number, number | undefined];
		return b === undefined ? [a] : Array.from({ length: b - a + 1 }, (_, k) => a + k);
	});
}

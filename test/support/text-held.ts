/**
 * Characters of every string reachable from a value (maps, sets, arrays and objects walked, a
 * class's private fields included): what an object holds of texts it was given, measured
 * without a collector's timing.
 */
export function textHeld(value: unknown, seen = new Set<object>()): number {
	if (typeof value === "string") return value.length;
	if (!value || typeof value !== "object" || seen.has(value)) return 0;
	seen.add(value);
	const sum = (values: Iterable<unknown>) => {
		let n = 0;
		for (const v of values) n += textHeld(v, seen);
		return n;
	};
	if (value instanceof Map) return sum([...value].flat());
	if (value instanceof Set || Array.isArray(value)) return sum(value);
	return sum(Object.values(value));
}

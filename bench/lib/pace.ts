import { now } from "./clock";

/**
 * Calls `publish(1..count)` at `perSecond` (Infinity: in batches of 500 per
 * macrotask), stopping early after `maxMs`. Open loop: every tick publishes
 * whatever is due by now, so a late tick catches up instead of lowering the
 * rate silently; a publisher that cannot keep up runs out of time instead.
 */
export function paced(
	count: number,
	perSecond: number,
	publish: (n: number) => void,
	maxMs = Number.POSITIVE_INFINITY,
): Promise<{ sent: number; startedAt: number; endedAt: number }> {
	const finite = Number.isFinite(perSecond);
	return new Promise((done) => {
		const startedAt = now();
		let sent = 0;
		const tick = () => {
			const t = now();
			const due = finite ? Math.floor(((t - startedAt) * perSecond) / 1000) + 1 : sent + 500;
			const end = Math.min(count, due);
			while (sent < end && now() - startedAt < maxMs) publish(++sent);
			if (sent < count && now() - startedAt < maxMs) setTimeout(tick, finite ? 1 : 0);
			else done({ sent, startedAt, endedAt: now() });
		};
		tick();
	});
}

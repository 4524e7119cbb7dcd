import { now, sleep } from "./clock";
import { type Summary, summarize } from "./stats";

export interface LoadResult {
	readonly latency: Summary;
	/** Requests per second actually sent. */
	readonly achieved: number;
	readonly errors: number;
	/** Sends skipped because `maxInFlight` requests were already waiting. */
	readonly skipped: number;
}

/**
 * Open-loop GETs of `url` at `perSecond` for `seconds`, on keep-alive
 * connections: a request is sent when it is due whether or not earlier ones
 * have answered (at most `maxInFlight` at once, so a stalled server cannot
 * pile up work without bound). Latency is send to full response.
 */
export async function constantRate(
	url: string,
	perSecond: number,
	seconds: number,
	maxInFlight = 256,
): Promise<LoadResult> {
	const total = Math.round(perSecond * seconds);
	const latencies: number[] = [];
	let errors = 0;
	let skipped = 0;
	let inFlight = 0;
	const pending: Promise<void>[] = [];
	const one = async () => {
		inFlight++;
		const sent = now();
		try {
			const res = await fetch(url);
			await res.arrayBuffer();
			if (res.status === 200) latencies.push(now() - sent);
			else errors++;
		} catch {
			errors++;
		} finally {
			inFlight--;
		}
	};
	const started = now();
	let issued = 0;
	while (issued < total && now() - started < seconds * 1000 + 5_000) {
		const due = Math.min(total, Math.floor(((now() - started) * perSecond) / 1000) + 1);
		while (issued < due) {
			issued++;
			if (inFlight >= maxInFlight) skipped++;
			else pending.push(one());
		}
		await sleep(1);
	}
	const elapsed = (now() - started) / 1000;
	await Promise.race([Promise.all(pending), sleep(10_000)]);
	return { latency: summarize(latencies), achieved: (issued - skipped) / elapsed, errors, skipped };
}

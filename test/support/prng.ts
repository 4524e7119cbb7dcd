/**
 * A small seeded pseudo-random generator (sfc32), so fuzz and fault runs can
 * be replayed exactly: print the seed, pass it back with `FAULT_SEED=<n>`.
 * Not pure-rand: seeds already recorded in fault reports replay only with this generator.
 */
export class Prng {
	private a: number;
	private b: number;
	private c: number;
	private d: number;

	constructor(readonly seed: number) {
		this.a = 0x9e3779b9;
		this.b = 0x243f6a88;
		this.c = 0xb7e15162;
		this.d = seed >>> 0;
		for (let i = 0; i < 15; i++) this.next();
	}

	/** A float in [0, 1). */
	next(): number {
		this.a >>>= 0;
		this.b >>>= 0;
		this.c >>>= 0;
		this.d >>>= 0;
		let t = (this.a + this.b) | 0;
		this.a = this.b ^ (this.b >>> 9);
		this.b = (this.c + (this.c << 3)) | 0;
		this.c = (this.c << 21) | (this.c >>> 11);
		this.d = (this.d + 1) | 0;
		t = (t + this.d) | 0;
		this.c = (this.c + t) | 0;
		return (t >>> 0) / 4294967296;
	}

	/** An integer in [0, n). */
	int(n: number): number {
		return Math.floor(this.next() * n);
	}

	/** An integer in [min, max]. */
	range(min: number, max: number): number {
		return min + this.int(max - min + 1);
	}

	chance(p: number): boolean {
		return this.next() < p;
	}

	pick<T>(items: readonly T[]): T {
		if (items.length === 0) throw new RangeError("pick from an empty list");
		return items[this.int(items.length)] as T;
	}

	/** Picks by weight: `[[weight, value], ...]`. */
	weighted<T>(items: readonly (readonly [number, T])[]): T {
		const total = items.reduce((s, [w]) => s + w, 0);
		let r = this.next() * total;
		for (const [w, v] of items) {
			r -= w;
			if (r < 0) return v;
		}
		return (items.at(-1) as readonly [number, T])[1];
	}
}

/** The seed for this run: `FAULT_SEED` when set (to replay a run), else a fresh one. */
export function runSeed(): number {
	const fromEnv = process.env.FAULT_SEED;
	if (fromEnv !== undefined && fromEnv !== "") {
		const n = Number(fromEnv);
		if (!Number.isSafeInteger(n)) throw new Error("FAULT_SEED must be an integer");
		return n >>> 0;
	}
	return (Math.random() * 2 ** 32) >>> 0;
}

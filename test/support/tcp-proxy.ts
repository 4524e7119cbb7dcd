import { connect, createServer, type Socket } from "node:net";

/**
 * A TCP proxy on 127.0.0.1 that a test controls, to fail a connection the
 * ways a network does: `cut()` resets the open connections, `down()` also
 * refuses new ones until `up()`, and `stall()` keeps the open connections
 * but forwards nothing more on them (no FIN, no RST: a dead peer), while new
 * connections work.
 */
export interface TcpProxy {
	readonly port: number;
	/** `http://127.0.0.1:<port>`. */
	readonly url: string;
	/** Every request head that went through, as text (to see the Last-Event-ID of reconnects). */
	readonly heads: string[];
	/** Where connections go; set before the first one (or between them). */
	target: { host: string; port: number } | undefined;
	/** Connections accepted and forwarded so far. */
	readonly accepted: number;
	/** Resets every open connection, both sides, as a dropped network path would; returns how many pairs it cut. */
	cut(): number;
	down(): void;
	up(): void;
	stall(): void;
	/** Resolves once `accepted` reaches `n`. */
	waitForConnections(n: number): Promise<void>;
	close(): Promise<void>;
}

/** `targetPort`: forward to 127.0.0.1 on that port (else set `target` before the first connection). */
export async function startTcpProxy(targetPort?: number): Promise<TcpProxy> {
	const pairs = new Set<[Socket, Socket]>();
	const stalled = new Set<[Socket, Socket]>();
	let refusing = false;
	let accepted = 0;
	const waiters: { n: number; resolve: () => void }[] = [];
	const heads: string[] = [];
	const proxy: TcpProxy = {
		port: 0,
		url: "",
		heads,
		target: targetPort === undefined ? undefined : { host: "127.0.0.1", port: targetPort },
		get accepted() {
			return accepted;
		},
		cut() {
			const n = pairs.size;
			for (const [a, b] of pairs) {
				a.resetAndDestroy();
				b.resetAndDestroy();
			}
			pairs.clear();
			return n;
		},
		down() {
			refusing = true;
			proxy.cut();
		},
		up() {
			refusing = false;
		},
		stall() {
			for (const [a, b] of pairs) {
				a.pause();
				b.pause();
				a.unpipe(b);
				b.unpipe(a);
			}
			// Stalled pairs stay open (until their peer gives up, or close()); a later cut leaves them alone.
			for (const pair of pairs) stalled.add(pair);
			pairs.clear();
		},
		waitForConnections(n) {
			if (accepted >= n) return Promise.resolve();
			return new Promise((resolve) => waiters.push({ n, resolve }));
		},
		close() {
			proxy.cut();
			for (const [a, b] of stalled) {
				a.destroy();
				b.destroy();
			}
			return new Promise((resolve) => server.close(() => resolve()));
		},
	};
	const server = createServer((client) => {
		const target = proxy.target;
		if (refusing || !target) {
			client.resetAndDestroy();
			return;
		}
		const upstream = connect(target.port, target.host);
		const pair: [Socket, Socket] = [client, upstream];
		pairs.add(pair);
		const end = () => {
			pairs.delete(pair);
			client.destroy();
			upstream.destroy();
		};
		client.on("error", end).on("close", end);
		upstream.on("error", end).on("close", end);
		client.on("data", (chunk: Buffer) => {
			const text = chunk.toString("latin1");
			if (/^[A-Z]+ \//.test(text)) heads.push(text.slice(0, text.indexOf("\r\n\r\n") + 1 || 2000));
		});
		client.pipe(upstream);
		upstream.pipe(client);
		accepted += 1;
		for (const w of [...waiters]) {
			if (accepted >= w.n) {
				waiters.splice(waiters.indexOf(w), 1);
				w.resolve();
			}
		}
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const address = server.address();
	const port = typeof address === "object" && address ? address.port : 0;
	Object.assign(proxy, { port, url: `http://127.0.0.1:${port}` });
	return proxy;
}

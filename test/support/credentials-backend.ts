import { createServer, type Socket } from "node:net";

/**
 * The backend's credentials endpoint, as a small local server speaking the
 * wire format of API_CONTRACT.md ("Credentials source"): `POST /credentials`
 * with `{session_id, provider, reason}` and a bearer token, answered per
 * session by the test.
 */
export interface CredentialsAsk {
	readonly session_id: string;
	readonly provider: string;
	readonly reason: string;
	readonly authorization: string | null;
}

/** How the endpoint answers one request. */
export type CredentialsAnswer =
	| { kind: "key"; key: string }
	| { kind: "status"; status: number; body?: string }
	| { kind: "raw"; body: string }
	| { kind: "json"; body: unknown }
	/** Accepts the request and never answers (until the server closes). */
	| { kind: "hang" }
	/**
	 * 200 with a body of `bytes` bytes streamed without a Content-Length, made
	 * as the reader pulls (never held whole): the opening of a JSON object and
	 * then spaces. `streamed(sessionId)` says how many bytes were made.
	 */
	| { kind: "huge"; bytes: number };

export interface CredentialsBackend {
	/** e.g. `http://127.0.0.1:41234/credentials` */
	readonly url: string;
	readonly asks: CredentialsAsk[];
	/** How requests for `sessionId` are answered from now on (default: 404). */
	answer(sessionId: string, answer: CredentialsAnswer): void;
	/** Resolves when a request for `sessionId` has arrived (at once if one has). */
	asked(sessionId: string): Promise<void>;
	/** Bytes of a `huge` answer made so far for `sessionId` (0: none). */
	streamed(sessionId: string): number;
	close(): Promise<void>;
}

export function startCredentialsBackend(): CredentialsBackend {
	const answers = new Map<string, CredentialsAnswer>();
	const asks: CredentialsAsk[] = [];
	const hanging: (() => void)[] = [];
	const waiting: { sessionId: string; arrived: () => void }[] = [];
	const made = new Map<string, number>();
	const server = Bun.serve({
		hostname: "127.0.0.1",
		port: 0,
		idleTimeout: 0,
		async fetch(req) {
			if (req.method !== "POST" || new URL(req.url).pathname !== "/credentials") {
				return new Response("not found", { status: 404 });
			}
			const body = (await req.json()) as { session_id: string; provider: string; reason: string };
			asks.push({ ...body, authorization: req.headers.get("authorization") });
			for (const w of waiting.filter((x) => x.sessionId === body.session_id)) {
				waiting.splice(waiting.indexOf(w), 1);
				w.arrived();
			}
			const answer = answers.get(body.session_id) ?? { kind: "status", status: 404 };
			switch (answer.kind) {
				case "key":
					return Response.json({ api_key: answer.key });
				case "status":
					return new Response(answer.body ?? "", { status: answer.status });
				case "raw":
					return new Response(answer.body, { status: 200, headers: { "content-type": "application/json" } });
				case "json":
					return Response.json(answer.body);
				case "hang":
					return new Promise<Response>((resolve) => hanging.push(() => resolve(new Response("late"))));
				case "huge":
					return new Response(
						hugeBody(answer.bytes, (n) => made.set(body.session_id, n)),
						{
							headers: { "content-type": "application/json" },
						},
					);
			}
		},
	});
	return {
		url: `http://127.0.0.1:${server.port}/credentials`,
		asks,
		answer: (sessionId, answer) => void answers.set(sessionId, answer),
		asked: (sessionId) =>
			asks.some((a) => a.session_id === sessionId)
				? Promise.resolve()
				: new Promise<void>((arrived) => waiting.push({ sessionId, arrived })),
		streamed: (sessionId) => made.get(sessionId) ?? 0,
		async close() {
			for (const h of hanging) h();
			await server.stop(true);
		},
	};
}

const CHUNK = 64 * 1024;

/** `total` bytes made one 64 KiB chunk per pull (`{"api_key":"` then spaces), `progress` told the running count. */
function hugeBody(total: number, progress: (made: number) => void): ReadableStream<Uint8Array> {
	const head = new TextEncoder().encode('{"api_key":"');
	const filler = new Uint8Array(CHUNK).fill(32);
	let made = 0;
	return new ReadableStream<Uint8Array>(
		{
			pull(c) {
				if (made >= total) return c.close();
				const chunk = made === 0 ? head : filler.subarray(0, Math.min(CHUNK, total - made));
				made += chunk.byteLength;
				progress(made);
				c.enqueue(chunk);
			},
		},
		{ highWaterMark: 0 },
	);
}

/**
 * An endpoint that answers every request `200` with `Content-Length: length`
 * and then sends no body byte: a client that reads the body waits; one that
 * believes the header hangs up at once. Raw TCP, because Bun.serve drops a
 * Content-Length given with a streamed body. `hungUp` resolves when the
 * client closes the connection.
 */
export interface LyingEndpoint {
	readonly url: string;
	readonly hungUp: Promise<void>;
	close(): Promise<void>;
}

export async function startLyingEndpoint(length: number): Promise<LyingEndpoint> {
	const sockets: Socket[] = [];
	let hungUp: () => void = () => undefined;
	const closed = new Promise<void>((resolve) => {
		hungUp = resolve;
	});
	const server = createServer((socket) => {
		sockets.push(socket);
		socket.on("error", () => undefined);
		socket.on("close", () => hungUp());
		let head = "";
		socket.on("data", (data) => {
			if (head.includes("\r\n\r\n")) return;
			head += data.toString("latin1");
			if (!head.includes("\r\n\r\n")) return;
			socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`);
		});
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const address = server.address();
	const port = typeof address === "object" && address ? address.port : 0;
	return {
		url: `http://127.0.0.1:${port}/credentials`,
		hungUp: closed,
		close: async () => {
			for (const s of sockets) s.destroy();
			await new Promise<void>((resolve) => server.close(() => resolve()));
		},
	};
}

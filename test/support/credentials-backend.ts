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
	| { kind: "hang" };

export interface CredentialsBackend {
	/** e.g. `http://127.0.0.1:41234/credentials` */
	readonly url: string;
	readonly asks: CredentialsAsk[];
	/** How requests for `sessionId` are answered from now on (default: 404). */
	answer(sessionId: string, answer: CredentialsAnswer): void;
	/** Resolves when a request for `sessionId` has arrived (at once if one has). */
	asked(sessionId: string): Promise<void>;
	close(): Promise<void>;
}

export function startCredentialsBackend(): CredentialsBackend {
	const answers = new Map<string, CredentialsAnswer>();
	const asks: CredentialsAsk[] = [];
	const hanging: (() => void)[] = [];
	const waiting: { sessionId: string; arrived: () => void }[] = [];
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
		async close() {
			for (const h of hanging) h();
			await server.stop(true);
		},
	};
}

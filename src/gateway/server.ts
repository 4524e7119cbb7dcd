import { timingSafeEqual } from "node:crypto";
import type { Logger } from "pino";
import { FORMAT_PATH, PROVIDERS, type ProviderName } from "../providers/catalogue";
import { type CredentialResolver, type SessionCredentials, scrub } from "./credentials";
import { rewriteBody } from "./rewrite";
import { type TokenCounts, UsageSniffer } from "./usage";

/**
 * The credential gateway: a loopback-only HTTP server that the engine's
 * providers point at. The engine authenticates with a per-process token and
 * names its session in `x-session-id`; the gateway finds that session, swaps in
 * its real key and endpoint, applies its model parameters and streams the call
 * through. Keys never enter the engine's configuration, disk or workspace.
 *
 * Routes: `POST /<provider>/<api path>` where provider is a name from
 * `PROVIDERS` (e.g. `/openai/responses`, `/anthropic/messages`).
 */
export interface Gateway {
	readonly url: string;
	stop(): Promise<void>;
}

export interface GatewayOptions {
	/** Token the engine presents (as its provider API key). */
	readonly token: string;
	readonly resolve: CredentialResolver;
	readonly log: Logger;
	readonly fetch?: typeof fetch;
	readonly port?: number;
	/** Told about every forwarded call (for metrics). */
	readonly observer?: GatewayObserver;
}

export interface GatewayObserver {
	call(provider: string, status: number, ms: number): void;
	tokens(provider: string, counts: TokenCounts): void;
}

/** Headers that describe the hop, or carry credentials, and are never forwarded. */
const DROP_REQUEST = new Set([
	"host",
	"authorization",
	"x-api-key",
	"content-length",
	"connection",
	"keep-alive",
	"accept-encoding",
	"x-session-id",
	"x-session-affinity",
	"transfer-encoding",
]);
const DROP_RESPONSE = new Set(["content-encoding", "content-length", "connection", "keep-alive", "transfer-encoding"]);

function sameSecret(a: string, b: string): boolean {
	const x = Buffer.from(a);
	const y = Buffer.from(b);
	return x.length === y.length && timingSafeEqual(x, y);
}

function presentedKey(req: Request): string {
	const auth = req.headers.get("authorization");
	if (auth?.toLowerCase().startsWith("bearer ")) return auth.slice(7).trim();
	return req.headers.get("x-api-key") ?? "";
}

/** An error the engine parses like the provider's own (both OpenAI and Anthropic read `error.message`). */
function providerError(status: number, message: string, type: string): Response {
	return Response.json({ type: "error", error: { type, message, code: type } }, { status });
}

export function startGateway(options: GatewayOptions): Gateway {
	const doFetch = options.fetch ?? fetch;
	const log = options.log;

	async function forward(req: Request, creds: SessionCredentials, format: keyof typeof FORMAT_PATH, rest: string) {
		const started = performance.now();
		let input: unknown;
		try {
			input = await req.json();
		} catch {
			return providerError(400, "gateway: request body is not JSON", "invalid_request_error");
		}
		if (typeof input !== "object" || input === null || Array.isArray(input)) {
			return providerError(400, "gateway: request body must be a JSON object", "invalid_request_error");
		}
		const { body, notices } = rewriteBody(format, input as Record<string, unknown>, creds);
		for (const n of notices) creds.notice(n);
		const headers = new Headers();
		for (const [k, v] of req.headers) if (!DROP_REQUEST.has(k.toLowerCase())) headers.set(k, v);
		headers.set("content-type", "application/json");
		if (PROVIDERS[creds.provider].auth === "bearer") headers.set("authorization", `Bearer ${creds.apiKey}`);
		else headers.set("x-api-key", creds.apiKey);
		const target = `${creds.endpoint}${rest}`;
		let upstream: Response;
		try {
			upstream = await doFetch(target, {
				method: "POST",
				headers,
				body: JSON.stringify(body),
				signal: req.signal,
			});
		} catch (error) {
			options.observer?.call(creds.provider, 502, performance.now() - started);
			if (req.signal.aborted) return new Response(null, { status: 499 });
			const reason = scrub(error instanceof Error ? error.message : String(error), creds.apiKey);
			log.warn({ session_id: creds.sessionId, provider: creds.provider, reason }, "provider unreachable");
			return providerError(502, `provider unreachable: ${reason}`, "api_error");
		}
		options.observer?.call(creds.provider, upstream.status, performance.now() - started);
		const out = new Headers();
		for (const [k, v] of upstream.headers) if (!DROP_RESPONSE.has(k.toLowerCase())) out.set(k, v);
		if (!upstream.ok) {
			// Small, and may echo the key back (some providers quote it): scrub before the engine stores it.
			const text = scrub(await upstream.text(), creds.apiKey);
			log.info(
				{
					session_id: creds.sessionId,
					provider: creds.provider,
					status: upstream.status,
				},
				"provider error",
			);
			return new Response(text, { status: upstream.status, headers: out });
		}
		const passthrough = upstream.body ? countTokens(upstream.body, format, creds.provider) : null;
		return new Response(passthrough, { status: upstream.status, headers: out });
	}

	/** Passes the body through unchanged while reading the usage the provider reports. */
	function countTokens(body: ReadableStream<Uint8Array>, format: keyof typeof FORMAT_PATH, provider: string) {
		const observer = options.observer;
		if (!observer) return body;
		const sniffer = new UsageSniffer(format);
		const decoder = new TextDecoder();
		let reported = { input: 0, output: 0 };
		// Reported as soon as seen: the engine may stop reading right after the last event.
		return body.pipeThrough(
			new TransformStream<Uint8Array, Uint8Array>({
				transform(chunk, controller) {
					controller.enqueue(chunk);
					sniffer.push(decoder.decode(chunk, { stream: true }));
					const now = sniffer.totals;
					if (now.input !== reported.input || now.output !== reported.output) {
						observer.tokens(provider, {
							input: Math.max(0, now.input - reported.input),
							output: Math.max(0, now.output - reported.output),
						});
						reported = now;
					}
				},
			}),
		);
	}

	const server = Bun.serve({
		hostname: "127.0.0.1",
		port: options.port ?? 0,
		// LLM streams can be quiet for minutes while a model thinks.
		idleTimeout: 0,
		async fetch(req) {
			if (!sameSecret(presentedKey(req), options.token)) {
				return providerError(401, "gateway: not the engine", "authentication_error");
			}
			const url = new URL(req.url);
			const slash = url.pathname.indexOf("/", 1);
			const provider = (slash === -1 ? url.pathname.slice(1) : url.pathname.slice(1, slash)) as ProviderName;
			const rest = slash === -1 ? "" : url.pathname.slice(slash);
			const spec = PROVIDERS[provider];
			if (!Object.hasOwn(PROVIDERS, provider) || !spec) {
				return providerError(404, "gateway: unknown provider route", "not_found_error");
			}
			if (req.method !== "POST" || rest !== FORMAT_PATH[spec.format]) {
				return providerError(404, `gateway: ${req.method} ${rest} is not forwarded`, "not_found_error");
			}
			const engineSession = req.headers.get("x-session-id");
			const creds = engineSession ? await options.resolve(engineSession) : undefined;
			if (!creds) {
				log.warn({ engine_session_id: engineSession, provider }, "gateway refused a call for no live session");
				return providerError(403, "gateway: the call belongs to no live session", "permission_error");
			}
			if (creds.provider !== provider) {
				return providerError(400, "gateway: provider does not match the session", "invalid_request_error");
			}
			return forward(req, creds, spec.format, `${rest}${url.search}`);
		},
	});
	return {
		url: `http://127.0.0.1:${server.port}`,
		async stop() {
			await server.stop(true);
		},
	};
}

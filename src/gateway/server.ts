import { timingSafeEqual } from "node:crypto";
import type { Logger } from "pino";
import { type Clock, systemClock } from "../lib/clock";
import { FORMAT_PATH, PROVIDERS, type ProviderName } from "../providers/catalogue";
import type { LlmCallSpan, Tracing } from "../telemetry/port";
import {
	type CredentialResolver,
	type GatewaySignal,
	type KeyRenewal,
	type SessionCredentials,
	scrub,
} from "./credentials";
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
	/**
	 * Starts forwarding calls, finding their sessions with `sessions`. The gateway
	 * listens from the start (the engine's configuration needs its URL before the
	 * sessions layer exists) and answers 503 until then. Once only.
	 */
	serve(sessions: GatewaySessions): void;
	/** Subscribes to what the gateway reports about each engine session's calls. */
	onSignal(listener: (signal: GatewaySignal) => void): () => void;
	stop(): Promise<void>;
}

/** What the gateway asks about a call's engine session, given by the layer that owns sessions. */
export interface GatewaySessions {
	readonly resolve: CredentialResolver;
	/** Asked once for a new key when the provider answers 401 (with CREDENTIALS_URL); absent otherwise. */
	readonly renew?: KeyRenewal;
	/** A refused call of this engine session is expected (the engine's warm-up): logged at debug, not warn. */
	readonly expectedRefusal?: (engineSessionId: string) => boolean;
}

export interface GatewayOptions {
	/** Token the engine presents (as its provider API key). */
	readonly token: string;
	readonly log: Logger;
	readonly fetch?: typeof fetch;
	readonly port?: number;
	/** Told about every forwarded call (for metrics). */
	readonly observer?: GatewayObserver;
	/** A call that receives nothing from the provider for this long is ended, and so is its run. */
	readonly idleTimeoutMs: number;
	/** Times the idle watchdog and each call's latency; default the system clock. */
	readonly clock?: Clock;
	/** A span per forwarded call (off: nothing is traced). */
	readonly tracing?: Tracing;
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
	const clock = options.clock ?? systemClock;
	const log = options.log;
	let sessions: GatewaySessions | undefined;
	const listeners = new Set<(signal: GatewaySignal) => void>();
	const emit = (signal: GatewaySignal) => {
		for (const l of listeners) {
			try {
				l(signal);
			} catch (error) {
				log.warn({ err: String(error), kind: signal.kind }, "gateway signal listener failed");
			}
		}
	};

	async function forward(
		req: Request,
		engineSessionId: string,
		creds: SessionCredentials,
		format: keyof typeof FORMAT_PATH,
		rest: string,
		renew: KeyRenewal | undefined,
	) {
		const started = clock.now();
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
		for (const message of notices) emit({ kind: "notice", engineSessionId, message });
		const span = options.tracing?.llmCall(creds.sessionId, {
			provider: creds.provider,
			model: creds.model,
			...(typeof body.temperature === "number" ? { temperature: body.temperature } : {}),
			maxTokens: creds.max_tokens,
			body,
		});
		const headers = new Headers();
		for (const [k, v] of req.headers) if (!DROP_REQUEST.has(k.toLowerCase())) headers.set(k, v);
		headers.set("content-type", "application/json");
		const target = `${creds.endpoint}${rest}`;
		let key = creds.apiKey;
		const clean = (text: string) => scrub(scrub(text, creds.apiKey), key);
		let upstream: Response;
		// Inactivity watchdog: no byte from the provider for idleTimeoutMs ends the call and the run.
		const upstreamAbort = new AbortController();
		const abortUpstream = () => upstreamAbort.abort();
		req.signal.addEventListener("abort", abortUpstream);
		let stalled = false;
		let cancelIdle: (() => void) | undefined;
		let onStall: (() => void) | undefined;
		const armIdle = () => {
			cancelIdle?.();
			cancelIdle = clock.setTimeout(() => {
				stalled = true;
				const seconds = options.idleTimeoutMs / 1000;
				log.warn({ session_id: creds.sessionId, provider: creds.provider, seconds }, "provider stalled");
				const message = `the provider sent nothing for ${seconds}s (PROVIDER_IDLE_TIMEOUT)`;
				emit({ kind: "stalled", engineSessionId, message });
				onStall?.();
				upstreamAbort.abort();
			}, options.idleTimeoutMs);
		};
		const done = () => {
			cancelIdle?.();
			req.signal.removeEventListener("abort", abortUpstream);
		};
		const call = (apiKey: string) => {
			if (PROVIDERS[creds.provider].auth === "bearer") headers.set("authorization", `Bearer ${apiKey}`);
			else headers.set("x-api-key", apiKey);
			return doFetch(target, {
				method: "POST",
				headers,
				body: JSON.stringify(body),
				signal: upstreamAbort.signal,
			});
		};
		emit({ kind: "call", engineSessionId, provider: creds.provider });
		armIdle();
		try {
			upstream = await call(key);
			if (upstream.status === 401 && renew) {
				// Keys rotate: ask the backend once for a new one and make the same call again with it.
				const refused = upstream;
				const text = await refused.text().catch(() => "");
				options.observer?.call(creds.provider, 401, clock.now() - started);
				log.info(
					{ session_id: creds.sessionId, provider: creds.provider },
					"provider answered 401; fetching a new key",
				);
				cancelIdle?.(); // the credentials endpoint has its own timeout
				const renewed = await renew(engineSessionId, key);
				if (renewed === undefined || req.signal.aborted) {
					done();
					span?.responded(401);
					span?.end({ errorType: "401" });
					emit({ kind: "upstream", engineSessionId, status: 401 });
					const out = new Headers();
					for (const [k, v] of refused.headers) if (!DROP_RESPONSE.has(k.toLowerCase())) out.set(k, v);
					return new Response(clean(text), { status: 401, headers: out });
				}
				key = renewed;
				armIdle();
				upstream = await call(key);
			}
		} catch (error) {
			done();
			options.observer?.call(creds.provider, 502, clock.now() - started);
			span?.end({ errorType: stalled ? "timeout" : req.signal.aborted ? "cancelled" : "unreachable" });
			if (stalled) return providerError(504, "gateway: the provider sent nothing in time", "timeout_error");
			if (req.signal.aborted) return new Response(null, { status: 499 });
			const reason = clean(error instanceof Error ? error.message : String(error));
			log.warn({ session_id: creds.sessionId, provider: creds.provider, reason }, "provider unreachable");
			return providerError(502, `provider unreachable: ${reason}`, "api_error");
		}
		options.observer?.call(creds.provider, upstream.status, clock.now() - started);
		emit({ kind: "upstream", engineSessionId, status: upstream.status });
		span?.responded(upstream.status);
		const out = new Headers();
		for (const [k, v] of upstream.headers) if (!DROP_RESPONSE.has(k.toLowerCase())) out.set(k, v);
		if (!upstream.ok || !upstream.body) {
			// Small, and may echo the key back (some providers quote it): scrub before the engine stores it.
			const text = clean(await upstream.text().catch(() => ""));
			done();
			span?.end({ errorType: upstream.ok ? "empty_body" : String(upstream.status) });
			log.info({ session_id: creds.sessionId, provider: creds.provider, status: upstream.status }, "provider error");
			return new Response(text, { status: upstream.status, headers: out });
		}
		armIdle();
		const passthrough = relay(upstream.body, format, creds.provider, armIdle, done, span, (stop) => {
			onStall = stop;
		});
		return new Response(passthrough, { status: upstream.status, headers: out });
	}

	/**
	 * Passes the body through unchanged, re-arming the inactivity watchdog on
	 * every chunk and reading the token usage the provider reports (and, for the
	 * call's span, its first byte and finish reasons: read as it passes, never buffered).
	 */
	function relay(
		body: ReadableStream<Uint8Array>,
		format: keyof typeof FORMAT_PATH,
		provider: string,
		activity: () => void,
		done: () => void,
		span: LlmCallSpan | undefined,
		onStall: (stop: () => void) => void,
	): ReadableStream<Uint8Array> {
		const observer = options.observer;
		const sniffer = new UsageSniffer(format);
		const decoder = new TextDecoder();
		let reported = { input: 0, output: 0 };
		let first = true;
		let stalledOut = false;
		const ended = (errorType?: string) => {
			if (!span) return;
			const { input, output } = sniffer.totals;
			const { finishReasons, responseModel } = sniffer.end;
			span.end({
				...(errorType === undefined ? {} : { errorType }),
				inputTokens: input,
				outputTokens: output,
				finishReasons,
				...(responseModel === undefined ? {} : { responseModel }),
			});
			span = undefined;
		};
		const relayed = new TransformStream<Uint8Array, Uint8Array>({
			start(controller) {
				onStall(() => {
					stalledOut = true;
					controller.error(new Error("provider stalled"));
				});
			},
			transform(chunk, controller) {
				activity();
				controller.enqueue(chunk);
				if (first) {
					first = false;
					span?.firstByte();
				}
				if (!observer && !span) return;
				sniffer.push(decoder.decode(chunk, { stream: true }));
				const now = sniffer.totals;
				// Reported as soon as seen: the engine may stop reading right after the last event.
				if (observer && (now.input !== reported.input || now.output !== reported.output)) {
					observer.tokens(provider, {
						input: Math.max(0, now.input - reported.input),
						output: Math.max(0, now.output - reported.output),
					});
					reported = now;
				}
			},
			flush() {
				done();
				ended();
			},
		});
		void body.pipeTo(relayed.writable).catch(() => {
			done();
			// The engine may stop reading right after the last event: a stream that said why it finished is not an error.
			ended(stalledOut ? "timeout" : sniffer.end.finishReasons.length > 0 ? undefined : "cancelled");
		});
		return relayed.readable;
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
			if (!sessions) return providerError(503, "gateway: not serving yet", "api_error");
			const engineSession = req.headers.get("x-session-id");
			const creds = engineSession ? await sessions.resolve(engineSession) : undefined;
			if (!creds || !engineSession) {
				const expected = engineSession !== null && sessions.expectedRefusal?.(engineSession) === true;
				log[expected ? "debug" : "warn"](
					{ engine_session_id: engineSession, provider },
					"gateway refused a call for no live session",
				);
				return providerError(403, "gateway: the call belongs to no live session", "permission_error");
			}
			if (creds.provider !== provider) {
				return providerError(400, "gateway: provider does not match the session", "invalid_request_error");
			}
			return forward(req, engineSession, creds, spec.format, `${rest}${url.search}`, sessions.renew);
		},
	});
	return {
		url: `http://127.0.0.1:${server.port}`,
		serve(given) {
			if (sessions) throw new Error("the gateway already serves");
			sessions = given;
		},
		onSignal(listener) {
			listeners.add(listener);
			return () => listeners.delete(listener);
		},
		async stop() {
			await server.stop(true);
		},
	};
}

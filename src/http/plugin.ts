import { timingSafeEqual } from "node:crypto";
import type { TSchema } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { declaredLength, readAtMost } from "../lib/bounded-read";
import type { Clock } from "../lib/clock";
import { isoTime } from "../lib/clock";
import type { Logger } from "../lib/log";
import { envelope, InternalError } from "./envelope";
import {
	AppError,
	BodyTooLarge,
	CrossOriginRequest,
	MalformedJson,
	MethodNotAllowed,
	MisdirectedRequest,
	RouteNotFound,
	Unauthorized,
	UnsupportedMediaType,
	ValidationFailed,
} from "./errors";
import { isJsonMediaType } from "./media-type";
import { type HostRules, judgeSource } from "./request-source";
import { describeValidation } from "./validation";

export interface HttpCoreOptions {
	readonly maxBodyBytes: number;
	/** When set, every route under `protectedPrefixes` needs `Authorization: Bearer <secret>`. */
	readonly sharedSecret: string | undefined;
	readonly protectedPrefixes: readonly string[];
	/** The names the sidecar answers to besides IP literals and `localhost` (request-source.ts). */
	readonly hosts: HostRules;
	readonly clock: Clock;
	readonly log: Logger;
	/** Path → allowed methods, to answer 405 instead of 404 on a known path. */
	readonly allowedMethods: (path: string) => string[] | undefined;
}

/** Not @elysiajs/bearer: it only extracts the token; the constant-time comparison is the part that matters. */
function bearerMatches(header: string | null, secret: string): boolean {
	const token = header?.match(/^Bearer\s+(.+)$/i)?.[1] ?? "";
	const a = Buffer.from(token);
	const b = Buffer.from(secret);
	// Compare equal-length buffers so the time does not depend on where they differ.
	return timingSafeEqual(a.length === b.length ? a : b, b) && a.length === b.length;
}

/**
 * The path of a request, or undefined for a target no client should send: an
 * unparsable URL (e.g. a bad Host), a fragment, or an authority-form target.
 */
export function pathOf(url: string): string | undefined {
	if (url.includes("#")) return undefined;
	// Not `new URL()`: an HTTP/1.0 request may come without Host, and its URL has no valid authority.
	const scheme = url.indexOf("://");
	const start = url.indexOf("/", scheme === -1 ? 0 : scheme + 3);
	if (start === -1) return undefined;
	const query = url.indexOf("?", start);
	return url.slice(start, query === -1 ? undefined : query);
}

/** The authority of an absolute URL (`http://host:port/…` → `host:port`), or undefined for a path alone. */
function authorityOf(url: string): string | undefined {
	const scheme = url.indexOf("://");
	if (scheme === -1) return undefined;
	const end = url.indexOf("/", scheme + 3);
	return url.slice(scheme + 3, end === -1 ? undefined : end);
}

/** Deeper than any real request; bounds the work of parsing and validating hostile bodies. */
const MAX_NESTING = 32;

/** The deepest nesting of arrays and objects in a JSON text (strings skipped), found in one pass. */
export function nestingDepth(text: string): number {
	let depth = 0;
	let max = 0;
	let inString = false;
	for (let i = 0; i < text.length; i++) {
		const c = text.charCodeAt(i);
		if (inString) {
			if (c === 92)
				i++; // backslash: skip the escaped character
			else if (c === 34) inString = false;
		} else if (c === 34) inString = true;
		else if (c === 91 || c === 123) {
			depth++;
			if (depth > max) max = depth;
		} else if (c === 93 || c === 125) depth--;
	}
	return max;
}

/**
 * What a request without a body parses to: not undefined, which would let
 * Elysia's own parser try the (consumed) body; the schema refuses it.
 */
const NO_BODY = null;

/**
 * Reads a body as JSON, refusing more than `limit` bytes and any declared type
 * but JSON: a web page can send text/plain and forms to another origin
 * without a CORS preflight, never application/json.
 */
async function readJson(request: Request, limit: number): Promise<unknown> {
	if ((declaredLength(request.headers) ?? 0) > limit) throw new BodyTooLarge(limit);
	const type = request.headers.get("content-type");
	if (type !== null && !isJsonMediaType(type)) throw new UnsupportedMediaType();
	// No body at all (e.g. DELETE): let the route's schema decide whether one was needed.
	if (!request.body) return NO_BODY;
	if (type === null && (declaredLength(request.headers) ?? 0) > 0) throw new UnsupportedMediaType();
	const bytes = await readAtMost(request.body, limit);
	if (bytes === undefined) throw new BodyTooLarge(limit);
	// A chunked body without a declared type: refused once bytes show it is not empty.
	if (type === null && bytes.byteLength > 0) throw new UnsupportedMediaType();
	const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
	if (nestingDepth(text) > MAX_NESTING) {
		throw new ValidationFailed("body", `must not nest deeper than ${MAX_NESTING} levels`);
	}
	if (text.trim() === "") return NO_BODY;
	try {
		return JSON.parse(text);
	} catch {
		throw new MalformedJson();
	}
}

/**
 * A route's JSON body. The bounded reader of `httpCore` (a global parse hook)
 * runs first and always claims the body or throws (a body not declared JSON
 * is refused with 415 there), so Elysia's own parsers never run: neither the
 * JSON parser named here nor its content-type switch, which would parse
 * text/plain and forms; naming it declares the media type, which is what
 * @elysiajs/openapi reads to document the request body (it skips function
 * parsers, which left every request body as `content: {}`).
 */
export function jsonBody<T extends TSchema>(schema: T) {
	return { body: schema, parse: "json" as const };
}

/**
 * The HTTP core every route shares: requests from foreign hosts and origins
 * refused (request-source.ts), bearer auth on protected routes (both checked
 * before the body is read), bounded JSON bodies, and the one place where
 * errors become the contract's envelope.
 */
export function httpCore(options: HttpCoreOptions) {
	const now = () => isoTime(options.clock.now());
	return new Elysia({ name: "http-core" })
		.onRequest(({ request }) => {
			const path = pathOf(request.url);
			if (path === undefined) return envelope(new ValidationFailed("request target", "is not a valid URL path"), now());
			const h = request.headers;
			const refusal = judgeSource(
				{
					method: request.method,
					host: h.get("host") ?? authorityOf(request.url),
					origin: h.get("origin"),
					fetchSite: h.get("sec-fetch-site"),
					fetchMode: h.get("sec-fetch-mode"),
					fetchDest: h.get("sec-fetch-dest"),
				},
				options.hosts,
			);
			if (refusal === "host") return envelope(new MisdirectedRequest(), now());
			if (refusal) return envelope(new CrossOriginRequest(refusal === "origin" ? "Origin" : "Sec-Fetch-Site"), now());
			if (
				options.sharedSecret &&
				options.protectedPrefixes.some((prefix) => path === prefix || path.startsWith(`${prefix}/`))
			) {
				if (!bearerMatches(request.headers.get("authorization"), options.sharedSecret)) {
					return envelope(new Unauthorized(), now());
				}
			}
			const declared = Number(request.headers.get("content-length") ?? 0);
			if (declared > options.maxBodyBytes) return envelope(new BodyTooLarge(options.maxBodyBytes), now());
		})
		.onParse({ as: "global" }, ({ request }) => readJson(request, options.maxBodyBytes))
		.onError({ as: "global" }, ({ code, error, request }) => {
			const cause = (error as { cause?: unknown }).cause;
			if (error instanceof AppError) return envelope(error, now());
			if (code === "PARSE") return envelope(cause instanceof AppError ? cause : new MalformedJson(), now());
			if (code === "VALIDATION") {
				const all = (error as { all?: unknown[] }).all ?? [];
				const problems = describeValidation(all as never[]);
				const first = problems[0] ?? { field: "body", reason: "is invalid" };
				const e = new ValidationFailed(first.field, first.reason);
				e.details = { ...first, errors: problems };
				return envelope(e, now());
			}
			if (code === "NOT_FOUND") {
				const allowed = options.allowedMethods(pathOf(request.url) ?? "");
				return envelope(allowed ? new MethodNotAllowed(allowed) : new RouteNotFound(), now());
			}
			if (code === "INVALID_COOKIE_SIGNATURE" || code === "INVALID_FILE_TYPE") {
				return envelope(new ValidationFailed("request", "is invalid"), now());
			}
			options.log.error(
				{
					err: error instanceof Error ? { name: error.name, stack: error.stack } : String(error),
				},
				"unhandled error",
			);
			return envelope(new InternalError(), now());
		});
}

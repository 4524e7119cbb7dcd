import { timingSafeEqual } from "node:crypto";
import { Elysia } from "elysia";
import type { Clock } from "../lib/clock";
import { isoTime } from "../lib/clock";
import type { Logger } from "../lib/log";
import { envelope, InternalError } from "./envelope";
import {
	AppError,
	BodyTooLarge,
	MalformedJson,
	MethodNotAllowed,
	RouteNotFound,
	Unauthorized,
	ValidationFailed,
} from "./errors";
import { describeValidation } from "./validation";

export interface HttpCoreOptions {
	readonly maxBodyBytes: number;
	/** When set, every route under `protectedPrefixes` needs `Authorization: Bearer <secret>`. */
	readonly sharedSecret: string | undefined;
	readonly protectedPrefixes: readonly string[];
	readonly clock: Clock;
	readonly log: Logger;
	/** Path → allowed methods, to answer 405 instead of 404 on a known path. */
	readonly allowedMethods: (path: string) => string[] | undefined;
}

function bearerMatches(header: string | null, secret: string): boolean {
	const token = header?.match(/^Bearer\s+(.+)$/i)?.[1] ?? "";
	const a = Buffer.from(token);
	const b = Buffer.from(secret);
	// Compare equal-length buffers so the time does not depend on where they differ.
	return timingSafeEqual(a.length === b.length ? a : b, b) && a.length === b.length;
}

/** Reads a body as JSON, whatever its declared type, refusing more than `limit` bytes. */
async function readJson(request: Request, limit: number): Promise<unknown> {
	const declared = Number(request.headers.get("content-length") ?? Number.NaN);
	if (declared > limit) throw new BodyTooLarge(limit);
	// No body at all (e.g. DELETE): let the route's schema decide whether one was needed.
	if (!request.body) return undefined;
	const chunks: Uint8Array[] = [];
	let size = 0;
	for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) {
		size += chunk.byteLength;
		if (size > limit) throw new BodyTooLarge(limit);
		chunks.push(chunk);
	}
	const text = new TextDecoder("utf-8", { fatal: false }).decode(Buffer.concat(chunks));
	if (text.trim() === "") return undefined;
	try {
		return JSON.parse(text);
	} catch {
		throw new MalformedJson();
	}
}

/**
 * The HTTP core every route shares: bearer auth on protected routes (checked
 * before the body is read), bounded JSON bodies, and the one place where
 * errors become the contract's envelope.
 */
export function httpCore(options: HttpCoreOptions) {
	const now = () => isoTime(options.clock.now());
	return new Elysia({ name: "http-core" })
		.onRequest(({ request }) => {
			const path = new URL(request.url).pathname;
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
				const path = new URL(request.url).pathname;
				const allowed = options.allowedMethods(path);
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

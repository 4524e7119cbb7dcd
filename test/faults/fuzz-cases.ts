/**
 * Seeded generators of malformed requests for the fuzz suite. Every case is
 * built to be invalid by construction (a request the contract must refuse
 * with a 4xx), and carries the marker `SNTL` in what it sends wherever a value
 * can hold text, so a response that echoes input is caught.
 */
import type { Prng } from "../support/prng";

/** The marker every sentinel starts with; no response may contain it (any case). */
export const MARK = "SNTL";

export interface FuzzCase {
	readonly id: number;
	/** Category, for the histogram and for replaying a failure. */
	readonly kind: string;
	readonly method: string;
	/** Request target, ASCII only (percent-encoded), as sent on the wire. */
	readonly path: string;
	/** Values are byte strings (latin1), as on the wire. */
	readonly headers: Record<string, string>;
	readonly body?: string | Uint8Array | { chunks: Uint8Array[] };
}

/** A known route, from the served OpenAPI document. */
export interface Route {
	/** e.g. `/sessions/{id}/stream` */
	readonly template: string;
	/** Upper-case; HEAD is added wherever GET is allowed. */
	readonly methods: readonly string[];
}

export interface FuzzContext {
	readonly prng: Prng;
	readonly routes: readonly Route[];
	/** Sessions that exist, with their newest event id (never cancelled by a case). */
	readonly sessions: readonly { id: string; lastId: number }[];
	readonly maxBodyBytes: number;
	/** Where a session would send its LLM calls if a case were wrongly accepted (nothing listens). */
	readonly deadEndpoint: string;
}

/** Methods Bun's HTTP layer knows (others would turn into GET in a `Request`). */
export const METHODS = [
	"GET",
	"HEAD",
	"POST",
	"PUT",
	"PATCH",
	"DELETE",
	"OPTIONS",
	"TRACE",
	"PROPFIND",
	"PROPPATCH",
	"MKCOL",
	"COPY",
	"MOVE",
	"LOCK",
	"UNLOCK",
	"SEARCH",
	"PURGE",
	"REPORT",
	"M-SEARCH",
	"NOTIFY",
	"SUBSCRIBE",
	"UNSUBSCRIBE",
	"MERGE",
	"ACL",
	"LINK",
	"UNLINK",
	"BIND",
	"REBIND",
	"UNBIND",
	"CHECKOUT",
	"MKACTIVITY",
	"MKCALENDAR",
	"SOURCE",
] as const;

export const ENGINE_TOOL_SAMPLE = ["read", "write", "edit", "bash"];

/** Strings that stress decoders and comparisons. */
export const ODD_UNICODE = [
	"\u0000",
	"\ud800",
	"\udfff",
	"\udc00\ud800",
	"\u202e",
	"\u200f\u05e9\u05dc\u05d5\u05dd",
	"\ufeff",
	"\u2028\u2029",
	"\ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67",
	"e\u0301\u0301\u0301",
	"\uffff\ufffe",
	"\ue000",
	"\u0085",
	"\u00a0",
	"\u180e",
	"\u0661\u0662\u0663",
	"\uff11\uff12",
	"\u{1d7cf}",
	"\\u0000",
	"%00",
	"\r\n",
];

/** Byte sequences that are not UTF-8. */
const BAD_UTF8 = [
	[0xc0, 0xaf],
	[0xe0, 0x80, 0xaf],
	[0xf0, 0x80, 0x80, 0xaf],
	[0xed, 0xa0, 0x80],
	[0xed, 0xbf, 0xbf],
	[0xff],
	[0xfe, 0xff],
	[0x80],
	[0xf8, 0x88, 0x80, 0x80, 0x80],
	[0xc3],
];

const enc = new TextEncoder();

/** Percent-encodes every byte of the UTF-8 form (lone surrogates become U+FFFD, never an exception). */
export function pct(text: string): string {
	let out = "";
	for (const byte of Buffer.from(text, "utf8")) out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
	return out;
}

export function seededUuid(prng: Prng): string {
	const hex = (n: number) => Array.from({ length: n }, () => prng.int(16).toString(16)).join("");
	return `${hex(8)}-${hex(4)}-4${hex(3)}-${prng.pick(["8", "9", "a", "b"])}${hex(3)}-${hex(12)}`;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Body = Record<string, Json> & { model_config: Record<string, Json> };

/** Field paths of the create body and the JSON type each expects. */
const FIELDS: [path: string, type: "string" | "number" | "integer" | "array" | "object" | "tool", required: boolean][] =
	[
		["session_id", "string", true],
		["prompt", "string", true],
		["system_prompt", "string", false],
		["model_config", "object", true],
		["model_config.provider", "string", true],
		["model_config.model", "string", true],
		["model_config.api_key", "string", true],
		["model_config.temperature", "number", true],
		["model_config.max_tokens", "integer", true],
		["model_config.enabled_tools", "array", true],
		["model_config.enabled_tools.0", "tool", true],
		["model_config.model_version", "string", false],
		["model_config.api_endpoint", "string", true],
	];

export class CaseFactory {
	private n = 0;
	readonly sentinels: string[] = [];

	constructor(private readonly ctx: FuzzContext) {}

	private get prng(): Prng {
		return this.ctx.prng;
	}

	/** A fresh sentinel: `SNTL<n>Q` plus, sometimes, odd unicode around it. */
	sentinel(): string {
		const s = `${MARK}${this.n}Q${this.prng.int(1e6)}`;
		this.sentinels.push(s);
		return s;
	}

	private oddText(): string {
		const s = this.sentinel();
		return this.prng.chance(0.5) ? `${this.prng.pick(ODD_UNICODE)}${s}${this.prng.pick(ODD_UNICODE)}` : s;
	}

	/** A body that would be accepted, pointing at a dead endpoint. */
	validBody(): Body {
		const body: Body = {
			session_id: seededUuid(this.prng),
			prompt: `fuzz ${this.sentinel()}`,
			model_config: {
				provider: "openai-compatible",
				model: "fuzz-model",
				api_key: `sk-${MARK}KEY-${this.prng.int(1e9)}`,
				temperature: 0.5,
				max_tokens: 64,
				enabled_tools: ["read"],
				api_endpoint: this.ctx.deadEndpoint,
			},
		};
		// Valid but odd: these alone must not change the outcome.
		if (this.prng.chance(0.3)) body.prompt = `${body.prompt}${this.oddText()}`;
		if (this.prng.chance(0.2)) body.model_config.model_version = this.prng.pick(ODD_UNICODE);
		if (this.prng.chance(0.2)) body.system_prompt = this.oddText();
		if (this.prng.chance(0.3)) body[`${this.sentinel()}_extra`] = this.oddText();
		if (this.prng.chance(0.15)) body.model_config[`x_${this.sentinel()}`] = [this.oddText(), 1, null];
		if (this.prng.chance(0.1)) Object.assign(body, { constructor: { prototype: { polluted: this.sentinel() } } });
		return body;
	}

	/** A value of the wrong JSON type for `type`, holding a sentinel where it can. */
	wrongValue(type: string): Json {
		const s = this.sentinel();
		const nested = (depth: number): Json => {
			let v: Json = [s];
			for (let i = 0; i < depth; i++) v = this.prng.chance(0.5) ? [v] : { [s]: v };
			return v;
		};
		const common: Json[] = [null, true, false, [], {}, [s], { [s]: s }, nested(this.prng.range(1, 40))];
		const byType: Record<string, Json[]> = {
			string: [0, -1, 1.5, 1e308, -0, 2 ** 64],
			number: [s, "0.5", "1", "", "NaN", "Infinity", [0.5]],
			integer: [s, "64", "1", 1.5, 0.1, "", [64]],
			array: [s, "read", 5, { 0: "read", length: 1 }],
			object: [s, 5, [s], "{}"],
			tool: [5, null, {}, [], ["read"], true],
		};
		// An empty list is a valid tool list.
		const usable = type === "array" ? common.filter((v) => !(Array.isArray(v) && v.length === 0)) : common;
		return this.prng.pick([...(byType[type] ?? []), ...usable]);
	}

	/** A value of the right type but out of range or not allowed. */
	badValue(path: string): Json | undefined {
		const s = this.sentinel();
		const long = (n: number) => `${s}${"x".repeat(n)}`;
		const options: Record<string, Json[]> = {
			session_id: [
				s,
				"",
				`${seededUuid(this.prng)}${s}`,
				`{${seededUuid(this.prng)}}`,
				`urn:uuid:${seededUuid(this.prng)}`,
				seededUuid(this.prng).replaceAll("-", ""),
				seededUuid(this.prng).replace(/[0-9a-f]/, "g"),
				`${seededUuid(this.prng)}\n`,
				` ${seededUuid(this.prng)}`,
				seededUuid(this.prng).replace(/[0-9]/, "\uff11"),
				`${seededUuid(this.prng)}\u0000`,
				`${seededUuid(this.prng)}\ud800`,
				`../../${s}`,
				`${seededUuid(this.prng)}/../${s}`,
			],
			prompt: ["", long(262_145)],
			system_prompt: [long(65_537)],
			"model_config.provider": [
				s,
				"",
				"OpenAI",
				"openai ",
				"open\u200bai",
				`anthropic\u0000${s}`,
				"__proto__",
				"constructor",
			],
			"model_config.model": ["", long(201)],
			"model_config.api_key": ["", long(4097)],
			"model_config.temperature": [-0.001, 2.001, 1e308, -1e308, 3, -1],
			"model_config.max_tokens": [0, -1, 1.5, 1_000_001, 1e21, 2 ** 53],
			"model_config.enabled_tools": [
				Array.from({ length: 65 }, () => "read"),
				[s],
				["read", s],
				["Bash"],
				["bash\u0000"],
				[""],
				["__proto__"],
			],
			"model_config.model_version": [long(101)],
			"model_config.api_endpoint": [
				`ftp://${s}`,
				"http://",
				`http://a b/${s}`,
				s,
				`javascript:${s}`,
				`http:/${s}`,
				`//${s}`,
				`HTTP://${s}`,
				` http://${s}`,
				`http://${s}\n`,
				long(2049).replace(s, `http://${s}`),
			],
		};
		const list = options[path];
		return list ? this.prng.pick(list) : undefined;
	}

	/** Applies 1-3 changes that each make the body invalid. */
	invalidBody(): { body: Json; how: string } {
		const body = this.validBody();
		const changes = this.prng.weighted<number>([
			[6, 1],
			[3, 2],
			[1, 3],
		]);
		const how: string[] = [];
		for (let i = 0; i < changes; i++) {
			const [path, type, required] = this.prng.pick(FIELDS);
			const op = this.prng.weighted<"wrong" | "missing" | "bad">([
				[5, "wrong"],
				[required ? 2 : 0, "missing"],
				[3, "bad"],
			]);
			if (op === "missing") {
				// The tool slot "missing" is an empty list, which is valid: make it wrong instead.
				if (type === "tool") setPath(body, path, this.wrongValue(type));
				else deletePath(body, path);
			} else if (op === "bad" && this.badValue(path) !== undefined) {
				setPath(body, path, this.badValue(path) as Json);
			} else setPath(body, path, this.wrongValue(type));
			how.push(`${op}:${path}`);
		}
		// Without an endpoint, openai-compatible is refused too.
		if (this.prng.chance(0.05)) {
			deletePath(body, "model_config.api_endpoint");
			how.push("no-endpoint");
		}
		if (this.prng.chance(0.04)) {
			const wrapped = this.prng.pick<Json>([[body as Json], this.sentinel(), 42, null, true]);
			return { body: wrapped, how: "not-an-object" };
		}
		return { body, how: how.join(",") };
	}

	/** Text that is not JSON, derived from an (invalid) body. */
	malformedJson(source: string): { text: string | Uint8Array; how: string } {
		const s = this.sentinel();
		const p = this.prng;
		const at = (text: string) => p.int(text.length + 1);
		const insert = (text: string, piece: string, i = at(text)) => text.slice(0, i) + piece + text.slice(i);
		const ops: [string, () => string | Uint8Array][] = [
			["prefix", () => source.slice(0, p.int(Math.max(1, source.length - 1)))],
			["control-char", () => insert(source, String.fromCharCode(p.pick([0, 1, 2, 7, 8, 11, 12, 14, 27, 31])))],
			["single-quotes", () => source.replaceAll('"', "'")],
			["trailing-comma", () => `${source.slice(0, -1)},}`],
			["comment", () => insert(source, `/* ${s} */`, 1)],
			["nan", () => source.replace(/"temperature":[^,}]*/, '"temperature":NaN')],
			["unquoted-key", () => source.replace('"prompt":', "prompt:") + (source.includes('"prompt":') ? "" : "}")],
			[
				"bad-utf8-structural",
				() => {
					const bytes = enc.encode(source);
					const bad = p.pick(BAD_UTF8);
					return Uint8Array.from([...bytes.subarray(0, 1), ...bad, ...bytes.subarray(1)]);
				},
			],
			["unbalanced", () => p.pick([`[${source}`, `${source}}`, `{${source}`])],
			["two-values", () => `${source} ${source}`],
			["garbage", () => `${s} ${p.pick(ODD_UNICODE)} <xml>${s}</xml>`],
			["bad-escape", () => `{"prompt":"\\x41${s}","session_id":"\\u12"}`],
			["truncated-escape", () => `{"prompt":"${s}\\`],
			["yaml", () => `session_id: ${s}\nprompt: hi\n`],
			["form", () => `session_id=${s}&prompt=hi`],
			["whitespace", () => `${p.pick([" ", "\n\n", "\t", "\u00a0"])}x`],
			["lone-bracket", () => p.pick(["{", "[", "]", "}", '"', ":", ","])],
			["number-overflow", () => `{"prompt":"${s}","max_tokens":1${"0".repeat(400)}.5e99999}x`],
		];
		const [how, make] = p.pick(ops);
		return { text: make(), how };
	}

	private json(body: Json): string | Uint8Array {
		const text = JSON.stringify(body);
		// Sometimes bytes that are not UTF-8 inside a string value (of an extra, ignored property).
		if (this.prng.chance(0.15) && text.startsWith("{")) {
			return Uint8Array.from([
				...enc.encode(`{"x_bytes":"${this.sentinel()}`),
				...this.prng.pick(BAD_UTF8),
				...enc.encode(`",${text.slice(1)}`),
			]);
		}
		return text;
	}

	private contentType(): string {
		return this.prng.weighted<string>([
			[14, "application/json"],
			[1, "text/plain"],
			[1, "application/x-www-form-urlencoded"],
			[1, `multipart/form-data; boundary=${this.sentinel()}`],
			[1, "application/json; charset=utf-16"],
			[1, "application/xml"],
			[1, "*/*"],
			[1, ""],
			[1, "application/json, text/plain"],
			[1, "application/vnd.api+json"],
			[1, "application/json;charset=ISO-8859-1"],
			[1, `application/${this.sentinel()}`],
			[1, `application/json; ${"a=b; ".repeat(500)}`],
			[1, "application/octet-stream"],
		]);
	}

	private next(kind: string, c: Omit<FuzzCase, "id" | "kind">): FuzzCase {
		return { id: this.n++, kind, ...c };
	}

	private headersWith(extra: Record<string, string> = {}): Record<string, string> {
		const h: Record<string, string> = { ...extra };
		const p = this.prng;
		if (p.chance(0.1)) h.authorization = `Bearer ${this.sentinel()}`;
		if (p.chance(0.05)) h.accept = p.pick(["text/event-stream", "*/*", "application/xml", this.sentinel()]);
		if (p.chance(0.05)) h["x-forwarded-for"] = `${this.sentinel()}, ::1`;
		if (p.chance(0.05)) h.cookie = `session=${this.sentinel()}`;
		if (p.chance(0.03)) h["content-encoding"] = "gzip";
		if (p.chance(0.02)) h["x-long"] = `${this.sentinel()}${"v".repeat(p.range(1000, 12_000))}`;
		if (p.chance(0.02)) for (let i = 0; i < 100; i++) h[`x-many-${i}`] = this.sentinel();
		if (p.chance(0.03))
			h["x-utf8"] = Buffer.from(`${p.pick(ODD_UNICODE)}${this.sentinel()}`, "utf8")
				.toString("latin1")
				.replace(/[\0\r\n]/g, "");
		return h;
	}

	/** A malformed POST /sessions. */
	createCase(): FuzzCase {
		const p = this.prng;
		if (p.chance(0.25)) {
			const { body } = this.invalidBody();
			const { text, how } = this.malformedJson(JSON.stringify(body));
			return this.next(`create:malformed:${how}`, {
				method: "POST",
				path: p.pick(["/sessions", "/sessions/"]),
				headers: this.headersWith({ "content-type": this.contentType() }),
				body: text,
			});
		}
		const { body, how } = this.invalidBody();
		let text = this.json(body);
		// An own `__proto__` key (JSON.parse makes it a plain property): nothing may be polluted.
		if (typeof text === "string" && text.startsWith("{") && p.chance(0.05))
			text = `{"__proto__":{"polluted":"${this.sentinel()}"},${text.slice(1)}`;
		return this.next(`create:invalid:${how.split(",")[0]?.split(":")[0]}`, {
			method: "POST",
			path: "/sessions",
			headers: this.headersWith({ "content-type": this.contentType() }),
			body: text,
		});
	}

	/** Bodies over MAX_BODY_BYTES: sent whole, with a declared length, or in chunks without one. */
	hugeCase(): FuzzCase {
		const p = this.prng;
		const over = this.ctx.maxBodyBytes + p.pick([1, 2, 1024, 4096, 100_000]);
		const s = this.sentinel();
		const filler = p.pick(["x", "[", "\u00e9", "\ud83d\ude00"]);
		const head = `{"session_id":"${s}","prompt":"`;
		const text = `${head}${filler.repeat(Math.ceil(over / enc.encode(filler).length))}"}`;
		const bytes = enc.encode(text);
		const mode = p.pick(["whole", "declared", "chunked"] as const);
		const path = p.chance(0.8) ? "/sessions" : this.fill(p.pick(this.bodyRoutes()) ?? "/sessions");
		if (mode === "chunked") {
			const chunks: Uint8Array[] = [];
			const size = p.pick([1024, 16_384, 65_536, 300_000]);
			for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
			return this.next("huge:chunked", {
				method: "POST",
				path,
				headers: { "content-type": "application/json" },
				body: { chunks },
			});
		}
		return this.next(`huge:${mode}`, {
			method: "POST",
			path,
			headers: {
				"content-type": "application/json",
				...(mode === "declared" ? { "content-length": String(bytes.length) } : {}),
			},
			body: bytes,
		});
	}

	/** Templates of routes that take a body (POST/PUT/PATCH). */
	private bodyRoutes(): string[] {
		return this.ctx.routes
			.filter((r) => r.methods.some((m) => m === "POST" || m === "PUT" || m === "PATCH"))
			.map((r) => r.template);
	}

	/** Malformed bodies on every other route that takes one (follow-ups, answers, ...). */
	otherBodyCase(): FuzzCase {
		const p = this.prng;
		const routes = this.ctx.routes.filter((r) => r.template !== "/sessions" && r.methods.includes("POST"));
		if (routes.length === 0) return this.createCase();
		const route = p.pick(routes);
		const s = this.sentinel();
		const source = JSON.stringify({ prompt: s, answers: [[s]], api_key: `sk-${MARK}KEY` });
		const body = p.chance(0.6)
			? this.malformedJson(source).text
			: JSON.stringify(p.pick<Json>([[s], s, 7, null, true, [{ prompt: s }]]));
		return this.next(`body:${route.template}`, {
			method: "POST",
			path: this.fill(route.template),
			headers: this.headersWith({ "content-type": this.contentType() }),
			body,
		});
	}

	/** An id built to escape, confuse or overflow the path parameter. */
	trickId(): string {
		const p = this.prng;
		const s = this.sentinel();
		const real = p.pick(this.ctx.sessions).id;
		const fresh = seededUuid(p);
		const e = pct;
		return p.pick([
			`..%2f..%2f${s}`,
			`..%2F..%2Fetc%2Fpasswd${s}`,
			`%2e%2e%2f${s}`,
			`${s}%2f..`,
			`..%5c..%5c${s}`,
			`%252e%252e%252f${s}`,
			`..;${s}`,
			`${s}%00`,
			"%00",
			`%ZZ${s}`,
			"%",
			`%C0%AF${s}`,
			`%ED%A0%80${s}`,
			`%FF%FE${s}`,
			`%E2%80%AE${s}`,
			`%F0%9F%98%80${s}`,
			"%EF%BC%91%EF%BC%92",
			`%E2%80%A4%E2%80%A4${s}`,
			`${s}%0d%0aX-Injected:%201`,
			`${s}%09`,
			`${s}+x`,
			`~${s}`,
			`${s}@x`,
			"*",
			`${"a".repeat(p.range(100, 60_000))}${s}`,
			`${e(p.pick(ODD_UNICODE))}${s}`,
			`${fresh}%2f..%2f${seededUuid(p)}`,
			`${fresh}%00`,
			`%20${fresh}`,
			`${fresh}.json`,
			`%7B${fresh}%7D`,
			fresh,
			fresh.toUpperCase(),
			`${real}%2F..`,
			`${real}%00`,
			`${real}%20`,
			`${real};${s}`,
			`${real}%2F${s}`,
			`${real.slice(0, -1)}`,
			`${real}0`,
		]);
	}

	/** A route template with its parameters filled by trick ids (or real/fresh ones). */
	private fill(template: string, id = this.trickId()): string {
		return template
			.replace("{id}", id)
			.replace(/\{question_id\}/, () =>
				this.prng.pick([
					`q_${this.sentinel()}`,
					`%2e%2e%2f${this.sentinel()}`,
					`${"q".repeat(101)}${this.sentinel()}`,
					`${this.sentinel()}%00`,
				]),
			);
	}

	/** Any route with a path parameter, with a tricky id, on a method it answers. */
	pathCase(): FuzzCase {
		const p = this.prng;
		const routes = this.ctx.routes.filter((r) => r.template.includes("{"));
		const route = p.pick(routes);
		const method = p.pick(route.methods.filter((m) => m !== "HEAD"));
		const hasBody = method === "POST" || method === "PUT" || method === "PATCH";
		return this.next(`path:${method} ${route.template}`, {
			method,
			path: this.fill(route.template),
			headers: this.headersWith(hasBody ? { "content-type": "application/json" } : {}),
			...(hasBody ? { body: JSON.stringify({ prompt: this.sentinel(), answers: [[this.sentinel()]] }) } : {}),
		});
	}

	/** Dot segments with ids that do not exist: resolved or not, nothing is found. */
	dotSegmentCase(): FuzzCase {
		const p = this.prng;
		const a = seededUuid(p);
		const b = seededUuid(p);
		const s = this.sentinel();
		const path = p.pick([
			`/sessions/${a}/../${b}/status`,
			`/sessions/${a}/./status/../stream`,
			`/sessions/../sessions/${a}/status`,
			`/sessions/${s}/../../healthz/${s}`,
			`/x/../sessions/${a}/stream`,
			`/sessions/${a}/status/..%2f..%2f${s}`,
			`/sessions/${a}//status`,
			`//sessions/${a}/status`,
		]);
		return this.next("path:dot-segments", {
			method: p.pick(["GET", "DELETE"]),
			path,
			headers: this.headersWith(),
		});
	}

	/** A Last-Event-ID that is not a usable event id, on a real session's stream. */
	lastEventIdCase(): FuzzCase {
		const p = this.prng;
		const session = p.pick(this.ctx.sessions);
		const s = this.sentinel();
		const values = [
			"-1",
			`-${p.range(1, 1e6)}`,
			"-0",
			"+1",
			`${p.range(0, 99)}.${p.range(1, 9)}`,
			"1e3",
			"1E2",
			"0x10",
			"0X1f",
			"0b1",
			"0o7",
			"1_000",
			"1,2",
			"1;2",
			"1 2",
			"1\t2",
			"Infinity",
			"NaN",
			"null",
			"undefined",
			"[]",
			"{}",
			"true",
			s,
			`1${s}`,
			String(session.lastId + p.range(1, 5)),
			String(session.lastId + p.range(1000, 1e9)),
			"123456789012345",
			"9".repeat(p.range(16, 31)),
			"9007199254740993",
			"1".repeat(p.range(33, 200)),
			"\uff11",
			"\u0661",
			"\u06f1",
			"\u07c1",
			"\u0967",
			"\u{1d7cf}",
			"\u00b9",
			"\u00bd",
			"\u2460",
		];
		const value = p.pick(values);
		const path = `/sessions/${session.id}/stream`;
		if (p.chance(0.5)) {
			// Headers are bytes: anything beyond latin1 goes as its UTF-8 bytes.
			const header = Buffer.from(value, "utf8").toString("latin1");
			return this.next("last-event-id:header", {
				method: "GET",
				path,
				headers: this.headersWith({ "last-event-id": header }),
			});
		}
		const q = p.chance(0.1)
			? `last_event_id=${pct(value)}&last_event_id=${pct(value)}`
			: `last_event_id=${pct(p.chance(0.1) ? `  ${value} x` : value)}`;
		return this.next("last-event-id:query", {
			method: "GET",
			path: `${path}?${q}`,
			headers: this.headersWith(),
		});
	}

	/** Every route with a method it does not answer. */
	wrongMethodCase(): FuzzCase {
		const p = this.prng;
		const route = p.pick(this.ctx.routes);
		const wrong = METHODS.filter((m) => !route.methods.includes(m));
		const method = p.pick(wrong);
		const id = p.chance(0.6) ? p.pick(this.ctx.sessions).id : seededUuid(p);
		const path = route.template.replace("{id}", id).replace("{question_id}", `q_${this.sentinel()}`);
		const withBody = ["POST", "PUT", "PATCH", "DELETE"].includes(method) && p.chance(0.4);
		return this.next(`method:${method}`, {
			method,
			path: p.chance(0.2) ? `${path}?${this.sentinel()}=${this.sentinel()}` : path,
			headers: this.headersWith(withBody ? { "content-type": this.contentType() } : {}),
			...(withBody ? { body: JSON.stringify(this.invalidBody().body) } : {}),
		});
	}

	/** Paths no route answers. */
	unknownRouteCase(): FuzzCase {
		const p = this.prng;
		const s = this.sentinel();
		const real = p.pick(this.ctx.sessions).id;
		const path = p.pick([
			`/${s}`,
			`/sessions/${real}/${s}`,
			`/sessions/${real}/status/${s}`,
			`/sessions/${real}/stream/${s}`,
			`/healthz/${s}`,
			`/SESSIONS/${real}/status`,
			`/Sessions`,
			`/sessions;${s}`,
			`/${s}?q=${s}`,
			`/%2e%2e/${s}`,
			`/${pct(p.pick(ODD_UNICODE))}${s}`,
			`/sessions/${real}/questions`,
			`/${"x/".repeat(p.range(10, 500))}${s}`,
		]);
		return this.next("unknown-route", {
			method: p.pick(["GET", "POST", "DELETE", "PUT"]),
			path,
			headers: this.headersWith(),
		});
	}

	/** A list query the schema refuses. */
	listQueryCase(): FuzzCase {
		const s = this.sentinel();
		const value = this.prng.pick([s, "RUNNING", "running ", "", "done", `${s}%00`]);
		return this.next("list-query", {
			method: "GET",
			path: `/sessions?status=${pct(value)}${value === "" ? "&status=x" : ""}`,
			headers: this.headersWith(),
		});
	}

	/** Cases every run includes, whatever the seed: edges found worth keeping. */
	pinned(): FuzzCase[] {
		const withTools = (tools: Json) => {
			const body = this.validBody();
			body.model_config.enabled_tools = tools;
			return this.next("pinned:array-like-tools", {
				method: "POST",
				path: "/sessions",
				headers: { "content-type": "application/json" },
				body: JSON.stringify(body),
			});
		};
		const real = this.ctx.sessions[0]?.id ?? seededUuid(this.prng);
		return [
			withTools({ 0: "read", length: 1 }),
			withTools({ length: 0 }),
			withTools("read"),
			this.next("pinned:proto", {
				method: "POST",
				path: "/sessions",
				headers: { "content-type": "application/json" },
				body: `{"__proto__":{"polluted":"${this.sentinel()}"},"constructor":{"prototype":{"polluted":"${this.sentinel()}"}}}`,
			}),
			this.next("pinned:head-on-delete-route", { method: "HEAD", path: `/sessions/${real}`, headers: {} }),
			this.next("pinned:last-event-id-beyond", {
				method: "GET",
				path: `/sessions/${real}/stream`,
				headers: { "last-event-id": String((this.ctx.sessions[0]?.lastId ?? 0) + 1) },
			}),
		];
	}

	/** One case, of a category drawn by weight. */
	any(): FuzzCase {
		const hasList = this.ctx.routes.some((r) => r.template === "/sessions" && r.methods.includes("GET"));
		const pick = this.prng.weighted<() => FuzzCase>([
			[40, () => this.createCase()],
			[6, () => this.otherBodyCase()],
			[14, () => this.pathCase()],
			[3, () => this.dotSegmentCase()],
			[12, () => this.lastEventIdCase()],
			[16, () => this.wrongMethodCase()],
			[4, () => this.unknownRouteCase()],
			[hasList ? 2 : 0, () => this.listQueryCase()],
			[1.2, () => this.hugeCase()],
		]);
		return pick();
	}
}

function setPath(obj: Record<string, Json>, path: string, value: Json): void {
	const keys = path.split(".");
	let cur: Json = obj;
	for (const k of keys.slice(0, -1)) {
		if (cur === null || typeof cur !== "object") return;
		cur = (cur as Record<string, Json>)[k] ?? null;
	}
	if (cur !== null && typeof cur === "object") (cur as Record<string, Json>)[keys.at(-1) as string] = value;
}

function deletePath(obj: Record<string, Json>, path: string): void {
	const keys = path.split(".");
	let cur: Json = obj;
	for (const k of keys.slice(0, -1)) {
		if (cur === null || typeof cur !== "object") return;
		cur = (cur as Record<string, Json>)[k] ?? null;
	}
	if (cur !== null && typeof cur === "object") delete (cur as Record<string, Json>)[keys.at(-1) as string];
}

/** The request as bytes on the wire (HTTP/1.1, closing the connection after the response). */
export function toWire(c: FuzzCase, host = "127.0.0.1"): Buffer {
	const lines = [`${c.method} ${c.path} HTTP/1.1`, `Host: ${host}`];
	let body: Buffer = Buffer.alloc(0);
	const headers = { ...c.headers };
	if (c.body !== undefined && typeof c.body === "object" && "chunks" in c.body) {
		const parts: Buffer[] = [];
		for (const ch of c.body.chunks)
			parts.push(Buffer.from(`${ch.length.toString(16)}\r\n`), Buffer.from(ch), Buffer.from("\r\n"));
		parts.push(Buffer.from("0\r\n\r\n"));
		body = Buffer.concat(parts);
		headers["transfer-encoding"] = "chunked";
	} else if (c.body !== undefined) {
		body = typeof c.body === "string" ? Buffer.from(c.body, "utf8") : Buffer.from(c.body);
		headers["content-length"] ??= String(body.length);
	}
	for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
	lines.push("Connection: close");
	return Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), body]);
}

/** The case as an in-process `RequestInit`. */
export function toInit(c: FuzzCase): RequestInit {
	let body: BodyInit | undefined;
	if (c.body !== undefined && typeof c.body === "object" && "chunks" in c.body) {
		const chunks = c.body.chunks;
		body = new ReadableStream<Uint8Array>({
			start(ctrl) {
				for (const ch of chunks) ctrl.enqueue(ch);
				ctrl.close();
			},
		});
	} else body = c.body as BodyInit | undefined;
	return { method: c.method, headers: c.headers, body };
}

/** The status codes the contract allows for each error code. */
export const CODES_BY_STATUS: Record<number, readonly string[]> = {
	400: ["invalid_request", "malformed_json"],
	401: ["unauthorized"],
	403: ["cross_origin_request"],
	404: ["session_not_found", "not_found"],
	405: ["method_not_allowed"],
	409: ["session_exists"],
	413: ["body_too_large"],
	415: ["unsupported_media_type"],
	421: ["misdirected_request"],
};

/**
 * Checks one error response: 4xx, a JSON envelope `{error, code, timestamp}`
 * (plus `details`), a code the contract lists for the status, `Allow` on 405,
 * and no trace of the marker anywhere. Returns the problems (empty: fine).
 */
export function checkErrorResponse(
	r: { status: number | undefined; headers: Record<string, string>; body: string },
	c: { method: string },
): string[] {
	const problems: string[] = [];
	const { status } = r;
	if (status === undefined) return ["no response"];
	if (status < 400 || status > 499) problems.push(`status ${status}`);
	const everything = `${JSON.stringify(r.headers)}${r.body}`;
	if (everything.toLowerCase().includes(MARK.toLowerCase()))
		problems.push("echoes input (marker found in the response)");
	const type = r.headers["content-type"] ?? "";
	if (!type.startsWith("application/json")) problems.push(`content-type "${type}"`);
	if (status === 405) {
		const allow = r.headers.allow;
		if (!allow) problems.push("405 without Allow");
		else if (allow.split(/\s*,\s*/).includes(c.method)) problems.push(`405 whose Allow lists ${c.method}`);
	}
	if (c.method === "HEAD") return problems;
	let body: unknown;
	try {
		body = JSON.parse(r.body);
	} catch {
		problems.push("body is not JSON");
		return problems;
	}
	if (body === null || typeof body !== "object" || Array.isArray(body)) return [...problems, "body is not an object"];
	const e = body as Record<string, unknown>;
	if (typeof e.error !== "string" || e.error === "") problems.push("no error text");
	if (typeof e.code !== "string") problems.push("no code");
	else if (!(CODES_BY_STATUS[status] ?? []).includes(e.code)) problems.push(`code ${e.code} for status ${status}`);
	if (typeof e.timestamp !== "string" || Number.isNaN(Date.parse(e.timestamp))) problems.push("no timestamp");
	if (e.details !== undefined && (typeof e.details !== "object" || e.details === null))
		problems.push("details is not an object");
	const extra = Object.keys(e).filter(
		(k) => !["error", "code", "timestamp", "details"].includes(k) && !(k === "session" && status === 409),
	);
	if (extra.length > 0) problems.push(`unexpected fields ${extra.join(",")}`);
	return problems;
}

/**
 * What a request below the application may get:
 * - `app`: well-formed HTTP the sidecar must answer with a 4xx envelope;
 * - `ok`: unusual but valid HTTP for a probe, answered 200;
 * - `framing`: not valid HTTP/1.1; Bun's parser answers a bare 4xx or closes
 *   (505 only where the request line itself is malformed, `badLine`);
 * - `either`: `app` or `framing`, depending on how lenient the parser is;
 * - `stall`: the request never completes; no answer (or a 4xx) is fine.
 */
export type TransportExpectation = "app" | "ok" | "framing" | "either" | "stall";

export interface TransportCase {
	readonly name: string;
	readonly data: Buffer | Buffer[];
	readonly expect: TransportExpectation;
	readonly badLine?: boolean;
	readonly head?: boolean;
	readonly timeoutMs?: number;
}

export function transportCases(prng: Prng, ctx: { maxBodyBytes: number; realId: string }): TransportCase[] {
	const b = (s: string) => Buffer.from(s, "latin1");
	const u = (s: string) => Buffer.from(s, "utf8");
	const fresh = () => seededUuid(prng);
	const s = () => `${MARK}T${prng.int(1e9)}`;
	const status = () => `/sessions/${fresh()}/status`;
	const req = (line: string, headers: string[] = [], body = "") =>
		b(`${line}\r\n${["Host: 127.0.0.1", ...headers, "Connection: close"].join("\r\n")}\r\n\r\n${body}`);
	const max = ctx.maxBodyBytes;
	const mark = s();
	const cases: TransportCase[] = [
		{ name: "HTTP/1.0 probe without Host", data: b("GET /healthz HTTP/1.0\r\n\r\n"), expect: "ok" },
		{ name: "HTTP/1.0 unknown session without Host", data: b(`GET ${status()} HTTP/1.0\r\n\r\n`), expect: "app" },
		{
			name: "HTTP/1.0 malformed body without Host",
			data: b(`POST /sessions HTTP/1.0\r\nContent-Length: 9\r\n\r\n{${s()}`),
			expect: "app",
		},
		{ name: "CONNECT authority-form", data: req("CONNECT 127.0.0.1:80 HTTP/1.1"), expect: "app" },
		{ name: "CONNECT with marker", data: req(`CONNECT ${s()}.example:443 HTTP/1.1`), expect: "app" },
		{ name: "absolute-form target", data: req(`GET http://${s()}.example${status()} HTTP/1.1`), expect: "app" },
		{
			name: "absolute-form https",
			data: req(`DELETE https://evil.example/sessions/${fresh()} HTTP/1.1`),
			expect: "app",
		},
		{ name: "asterisk-form OPTIONS", data: req("OPTIONS * HTTP/1.1"), expect: "either" },
		{
			name: "Host with marker and odd bytes",
			data: b(`GET ${status()} HTTP/1.1\r\nHost: ${s()}\u00e9\u00ff\r\nConnection: close\r\n\r\n`),
			expect: "app",
		},
		{
			name: "two Host headers",
			data: b(`GET ${status()} HTTP/1.1\r\nHost: a\r\nHost: ${s()}\r\nConnection: close\r\n\r\n`),
			expect: "either",
		},
		{
			name: "UTF-8 bytes in Last-Event-ID",
			data: Buffer.concat([
				b(`GET /sessions/${ctx.realId}/stream HTTP/1.1\r\nHost: x\r\nLast-Event-ID: `),
				u("\u0661\u0662"),
				b("\r\nConnection: close\r\n\r\n"),
			]),
			expect: "app",
		},
		{
			name: "UTF-8 bytes in path",
			data: Buffer.concat([
				b("GET /sessions/"),
				u(`\u00e9\u202e\ud83d\ude00${s()}`),
				b("/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
			]),
			expect: "either",
		},
		{
			name: "overlong UTF-8 in path",
			data: Buffer.concat([
				b("GET /sessions/"),
				Buffer.from([0xc0, 0xaf, 0xc0, 0xae]),
				b(`${s()}/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
			]),
			expect: "either",
		},
		{ name: "raw NUL in path", data: req(`GET /sessions/\0${s()}/status HTTP/1.1`), expect: "framing", badLine: true },
		{
			name: "200 headers",
			data: req(
				`GET ${status()} HTTP/1.1`,
				Array.from({ length: 200 }, (_, i) => `X-H${i}: ${s()}`),
			),
			expect: "either",
		},
		{
			name: "2000 headers",
			data: req(
				`GET ${status()} HTTP/1.1`,
				Array.from({ length: 2000 }, (_, i) => `X-H${i}: v`),
			),
			expect: "framing",
		},
		{
			name: "20 KB header",
			data: req(`GET ${status()} HTTP/1.1`, [`X-Big: ${s()}${"a".repeat(20_000)}`]),
			expect: "framing",
		},
		{
			name: "200 KB header",
			data: req(`GET ${status()} HTTP/1.1`, [`X-Big: ${"a".repeat(200_000)}`]),
			expect: "framing",
		},
		{ name: "20 KB path", data: req(`GET /sessions/${"a".repeat(20_000)}${s()}/status HTTP/1.1`), expect: "framing" },
		{
			name: "20 KB Last-Event-ID",
			data: req(`GET /sessions/${ctx.realId}/stream HTTP/1.1`, [`Last-Event-ID: ${"9".repeat(20_000)}`]),
			expect: "framing",
		},
		{ name: "obs-fold header", data: req(`GET ${status()} HTTP/1.1`, ["X-A: one", ` ${s()}`]), expect: "framing" },
		{ name: "header without colon", data: req(`GET ${status()} HTTP/1.1`, [`NoColon${s()}`]), expect: "framing" },
		{ name: "space before colon", data: req(`GET ${status()} HTTP/1.1`, [`X-A : ${s()}`]), expect: "framing" },
		{ name: "NUL in header value", data: req(`GET ${status()} HTTP/1.1`, [`X-A: a\0${s()}`]), expect: "either" },
		{ name: "CR in header value", data: req(`GET ${status()} HTTP/1.1`, [`X-A: a\r${s()}`]), expect: "framing" },
		{
			name: "bare LF line endings",
			data: b(`GET ${status()} HTTP/1.1\nHost: x\nConnection: close\n\n`),
			expect: "framing",
			badLine: true,
		},
		{
			name: "Content-Length and chunked",
			data: req("POST /sessions HTTP/1.1", ["Content-Length: 5", "Transfer-Encoding: chunked"], `0\r\n\r\n{${s()}`),
			expect: "framing",
		},
		{
			name: "two Content-Lengths",
			data: req("POST /sessions HTTP/1.1", ["Content-Length: 3", "Content-Length: 40"], `{${s()}}`),
			expect: "framing",
		},
		{
			name: "negative Content-Length",
			data: req("POST /sessions HTTP/1.1", ["Content-Length: -1"]),
			expect: "framing",
		},
		{
			name: "non-numeric Content-Length",
			data: req("POST /sessions HTTP/1.1", [`Content-Length: ${s()}`]),
			expect: "framing",
		},
		{
			name: "Content-Length with spaces",
			data: req("POST /sessions HTTP/1.1", ["Content-Length: 1 0"], "{}"),
			expect: "framing",
		},
		{
			name: "huge Content-Length digits",
			data: req("POST /sessions HTTP/1.1", [`Content-Length: ${"9".repeat(40)}`]),
			expect: "either",
		},
		{
			name: "declared body just over MAX_BODY_BYTES",
			data: req(
				"POST /sessions HTTP/1.1",
				["Content-Type: application/json", `Content-Length: ${max + 1}`],
				`{"prompt":"${s()}${"x".repeat(max - 20)}"}`,
			),
			expect: "app",
		},
		{
			name: "declared body 10 MB over MAX_BODY_BYTES, not sent",
			data: req("POST /sessions HTTP/1.1", ["Content-Type: application/json", `Content-Length: ${max + 10_000_000}`]),
			expect: "app",
		},
		{
			name: "declared body of 1 GB, not sent",
			data: req("POST /sessions HTTP/1.1", ["Content-Type: application/json", "Content-Length: 1073741824"]),
			expect: "app",
		},
		{
			name: "Expect 100-continue over the limit",
			data: req("POST /sessions HTTP/1.1", [
				"Content-Type: application/json",
				"Expect: 100-continue",
				`Content-Length: ${max + 5000}`,
			]),
			expect: "app",
		},
		{
			name: "chunked body over MAX_BODY_BYTES",
			data: [
				req("POST /sessions HTTP/1.1", ["Content-Type: application/json", "Transfer-Encoding: chunked"]),
				...Array.from({ length: Math.ceil(max / 65536) + 1 }, () => b(`10000\r\n${"x".repeat(65536)}\r\n`)),
				b("0\r\n\r\n"),
			],
			expect: "app",
			timeoutMs: 10_000,
		},
		{
			name: "chunked body with marker, malformed JSON",
			data: req(
				"POST /sessions HTTP/1.1",
				["Content-Type: application/json", "Transfer-Encoding: chunked"],
				`5\r\n{"a":\r\n${(mark.length + 1).toString(16)}\r\n${mark}"\r\n0\r\n\r\n`,
			),
			expect: "app",
		},
		{
			name: "bad chunk size",
			data: req("POST /sessions HTTP/1.1", ["Transfer-Encoding: chunked"], `zz\r\n${s()}\r\n0\r\n\r\n`),
			expect: "framing",
		},
		{
			name: "chunk size overflow",
			data: req("POST /sessions HTTP/1.1", ["Transfer-Encoding: chunked"], "ffffffffffffffffffff\r\nx\r\n0\r\n\r\n"),
			expect: "framing",
		},
		{
			name: "unknown transfer coding",
			data: req("POST /sessions HTTP/1.1", ["Transfer-Encoding: gzip, chunked"], "0\r\n\r\n"),
			expect: "either",
		},
		{
			name: "Content-Length longer than the body (stalls)",
			data: req("POST /sessions HTTP/1.1", ["Content-Type: application/json", "Content-Length: 100"], `{"${s()}`),
			expect: "stall",
			timeoutMs: 1500,
		},
		{
			name: "headers never finished (stalls)",
			data: b(`GET ${status()} HTTP/1.1\r\nHost: x\r\nX-A: ${s()}`),
			expect: "stall",
			timeoutMs: 1500,
		},
		{ name: "request line only", data: b(`GET ${status()}`), expect: "stall", timeoutMs: 1500 },
		{ name: "missing version", data: b(`GET ${status()}\r\nHost: x\r\n\r\n`), expect: "framing", badLine: true },
		{ name: "unsupported version", data: req(`GET ${status()} HTTP/9.9`), expect: "framing", badLine: true },
		{ name: "HTTP/2 preface", data: b("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), expect: "framing", badLine: true },
		{
			name: "TLS ClientHello",
			data: Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, ...Array(40).fill(0x41)]),
			expect: "framing",
			badLine: true,
		},
		{ name: "empty lines", data: b("\r\n\r\n\r\n\r\n"), expect: "stall", timeoutMs: 1500 },
		{
			name: "random binary",
			data: Buffer.from(Array.from({ length: 512 }, () => prng.int(256))),
			expect: "framing",
			badLine: true,
			timeoutMs: 1500,
		},
		{ name: "extra spaces in request line", data: req(`GET  ${status()}  HTTP/1.1`), expect: "framing", badLine: true },
		{ name: "unknown method token", data: req(`FOO${s()} ${status()} HTTP/1.1`), expect: "framing", badLine: true },
		{ name: "lower-case method", data: req(`get ${status()} HTTP/1.1`), expect: "framing", badLine: true },
		{ name: "1 KB method", data: req(`${"G".repeat(1024)} ${status()} HTTP/1.1`), expect: "framing", badLine: true },
		{
			name: "websocket upgrade on a stream",
			data: req(`GET /sessions/${fresh()}/stream HTTP/1.1`, [
				"Upgrade: websocket",
				"Connection: Upgrade",
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
				"Sec-WebSocket-Version: 13",
			]),
			expect: "either",
		},
		{
			name: "h2c upgrade",
			data: req(`GET ${status()} HTTP/1.1`, ["Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"]),
			expect: "either",
		},
		{ name: "HEAD on a DELETE route", data: req(`HEAD /sessions/${ctx.realId} HTTP/1.1`), expect: "app", head: true },
		{ name: "TRACE with marker header", data: req(`TRACE /sessions HTTP/1.1`, [`X-Echo: ${s()}`]), expect: "app" },
		{
			name: "Max-Forwards TRACE on a session",
			data: req(`TRACE /sessions/${ctx.realId}/status HTTP/1.1`, ["Max-Forwards: 0"]),
			expect: "app",
		},
		{
			name: "query with 1,000 parameters",
			data: req(
				`GET /sessions/${ctx.realId}/stream?${Array.from({ length: 1000 }, (_, i) => `a${i}=1`).join("&")}&last_event_id=${s()} HTTP/1.1`,
			),
			expect: "app",
		},
		{ name: "fragment in target", data: req(`GET ${status()}#${s()} HTTP/1.1`), expect: "either" },
	];
	return cases;
}

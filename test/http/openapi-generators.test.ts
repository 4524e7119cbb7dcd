import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { validate } from "@readme/openapi-parser";
import { liveDocument } from "../support/conformance";

/**
 * The document at /swagger/json as the generators a backend team uses read it:
 * each generates a client from it with its defaults (fetch client where it has
 * a choice) and the client compiles with `tsc --strict`. The generators and
 * the compilers run as parallel processes; each test waits for its own.
 */
const REPO = resolve(import.meta.dir, "../..");
const bin = (name: string) => join(REPO, "node_modules/.bin", name);
// Inside the repository, so generated code resolves what it imports from node_modules (.tmp/ is ignored by git).
const dir = join(REPO, ".tmp", `openapi-generators-${crypto.randomUUID()}`);
const documentFile = join(dir, "openapi.json");

type Json = Record<string, unknown>;
let doc: Json;

/** Each generator's command line, writing into `out`. */
const GENERATORS: Record<string, (out: string) => string[]> = {
	"openapi-typescript": (out) => [bin("openapi-typescript"), documentFile, "-o", join(out, "api.ts")],
	"@hey-api/openapi-ts": (out) => [bin("openapi-ts"), "-i", documentFile, "-o", out, "-c", "@hey-api/client-fetch"],
	orval: (out) => [bin("orval"), "-i", documentFile, "-o", join(out, "api.ts"), "--client", "fetch"],
	"swagger-typescript-api": (out) => [bin("swagger-typescript-api"), "generate", "-p", documentFile, "-o", out],
	// Its bin is `openapi`, which Redocly CLI's also is: started by path.
	"openapi-typescript-codegen": (out) => [
		"node",
		join(REPO, "node_modules/openapi-typescript-codegen/bin/index.js"),
		"--input",
		documentFile,
		"--output",
		out,
		"--client",
		"fetch",
	],
};

/**
 * Compiled with the hey-api client: the stream's events are typed by the
 * document, not `unknown` (which hey-api makes of a 3.2 `itemSchema`) nor `any`.
 */
const HEY_API_EVENTS = `import { streamSession } from "./sdk.gen";

export async function finalMessages(id: string): Promise<string[]> {
	const { stream } = await streamSession({ path: { id } });
	const messages: string[] = [];
	for await (const data of stream) {
		if (!data) continue;
		if ("final_message" in data) messages.push(data.final_message);
		if ("status" in data) {
			const status: "pending" | "running" | "completed" | "failed" | "cancelled" | "timeout" = data.status;
			messages.push(status);
			// @ts-expect-error: a status is one of the statuses, not a number (were data \`any\`, this line would compile)
			const wrong: number = data.status;
			messages.push(String(wrong));
		}
	}
	return messages;
}
`;

const TSCONFIG = {
	compilerOptions: {
		target: "ES2022",
		module: "ESNext",
		moduleResolution: "Bundler",
		lib: ["ES2022", "DOM", "DOM.Iterable"],
		types: [],
		strict: true,
		noEmit: true,
		skipLibCheck: true,
	},
	include: ["**/*.ts"],
};

interface Outcome {
	readonly generate: { code: number; out: string };
	readonly tsc?: { code: number; out: string };
}

async function exec(cmd: string[], cwd: string): Promise<{ code: number; out: string }> {
	const p = Bun.spawn(cmd, { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
	const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
	return { code, out: `${out}${err}`.trim() };
}

/** Generates into a directory of its own, then compiles what it wrote (with the extra files given). */
async function generateAndCompile(tool: string, extra: Record<string, string> = {}): Promise<Outcome> {
	const out = join(dir, tool.replace(/[^a-z0-9]+/gi, "-"));
	mkdirSync(out, { recursive: true });
	// From the parent: openapi-typescript-codegen writes only below its working directory.
	const generate = await exec((GENERATORS[tool] as (out: string) => string[])(out), dir);
	if (generate.code !== 0) return { generate };
	for (const [name, text] of Object.entries(extra)) writeFileSync(join(out, name), text);
	writeFileSync(join(out, "tsconfig.json"), JSON.stringify(TSCONFIG));
	return { generate, tsc: await exec([bin("tsc"), "-p", join(out, "tsconfig.json")], out) };
}

let outcomes: Record<string, Promise<Outcome>>;

beforeAll(async () => {
	doc = await liveDocument();
	mkdirSync(dir, { recursive: true });
	writeFileSync(documentFile, JSON.stringify(doc, null, 2));
	outcomes = Object.fromEntries(
		Object.keys(GENERATORS).map((tool) => [
			tool,
			generateAndCompile(tool, tool === "@hey-api/openapi-ts" ? { "events.ts": HEY_API_EVENTS } : {}),
		]),
	);
});

afterAll(async () => {
	await Promise.allSettled(Object.values(outcomes ?? {}));
	rmSync(dir, { recursive: true, force: true });
});

describe("the document at /swagger/json, read by the generators", () => {
	test("@readme/openapi-parser validates it (what swagger-parser-based generators need: OpenAPI 3.1)", async () => {
		const result = await validate(structuredClone(doc) as never);
		expect(result).toMatchObject({ valid: true, warnings: [] });
	});

	test.each(Object.keys(GENERATORS))(
		"%s generates a client that compiles with tsc --strict",
		async (tool) => {
			const { generate, tsc } = await (outcomes[tool] as Promise<Outcome>);
			expect({ tool, generate: generate.code === 0 ? 0 : generate }).toEqual({ tool, generate: 0 });
			// No output from tsc: no error. For codegen, on the 3.2 document: "Duplicate identifier 'lastEventId'";
			// for hey-api, events.ts: the stream's events were `unknown`.
			expect({ tool, tsc }).toEqual({ tool, tsc: { code: 0, out: "" } });
		},
		300_000,
	);
});

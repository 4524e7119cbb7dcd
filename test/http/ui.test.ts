import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type InProcess, startInProcess } from "../support/in-process";
import { makeTempDirs, type TempDirs } from "../support/workspace";

const SECRET = "ui-http-secret-0123456789";
let dirs: TempDirs;
let it: InProcess;

beforeAll(async () => {
	dirs = makeTempDirs();
	it = await startInProcess({ WORKSPACE_DIR: dirs.workspace, STATE_DIR: dirs.state, OPENCODE_SHARED_SECRET: SECRET });
});

afterAll(async () => {
	await it?.sidecar.stop();
	dirs.cleanup();
});

/** Every `src`/`href` a page references. */
const references = (html: string) => [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);

describe("the pages and their assets are served without the token; the API is not", () => {
	const open = [
		"/ui",
		"/ui/",
		"/ui/sessions/00000000-0000-4000-8000-000000000000",
		"/ui/assets/app.js",
		"/ui/assets/app.css",
		"/swagger",
		"/swagger/json",
		"/swagger/assets/swagger-ui-bundle.js",
		"/swagger/assets/swagger-ui.css",
		"/swagger/assets/init.js",
	];
	for (const path of open)
		test(`GET ${path} → 200 without a token`, async () => {
			expect((await it.handle(path)).status).toBe(200);
		});

	test("the API still needs it", async () => {
		for (const path of ["/sessions", "/sessions/00000000-0000-4000-8000-000000000000/status", "/metrics"])
			expect([path, (await it.handle(path)).status]).toEqual([path, 401]);
	});
});

describe("the pages load nothing from elsewhere", () => {
	for (const page of ["/ui", "/ui/sessions/x", "/swagger"])
		test(`${page}: every referenced asset is same-origin and answers 200`, async () => {
			const res = await it.handle(page);
			expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
			const csp = res.headers.get("content-security-policy") ?? "";
			expect(csp).toContain("default-src 'none'");
			expect(csp).toContain("connect-src 'self'");
			expect(csp).not.toContain("http");
			const refs = references(await res.text());
			expect(refs.length).toBeGreaterThan(0);
			for (const ref of refs) {
				expect(ref).toStartWith("/");
				expect([ref, (await it.handle(ref)).status]).toEqual([ref, 200]);
			}
		});

	test("the browser bundle names no other origin and no CDN", async () => {
		for (const path of ["/ui/assets/app.js", "/swagger/assets/init.js"]) {
			const js = await (await it.handle(path)).text();
			expect(js).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
			expect(js).not.toContain("unpkg");
			expect(js).not.toContain("jsdelivr");
		}
	});
});

describe("assets", () => {
	test("content types, revalidation by ETag, 404 and 405 in the error envelope", async () => {
		const js = await it.handle("/ui/assets/app.js");
		expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
		const etag = js.headers.get("etag") ?? "";
		expect(etag).toMatch(/^".+"$/);
		const again = await it.handle("/ui/assets/app.js", { headers: { "if-none-match": etag } });
		expect(again.status).toBe(304);
		expect(await again.text()).toBe("");
		for (const path of ["/ui/assets/nope.js", "/ui/assets/swagger.js", "/swagger/assets/package.json"]) {
			const res = await it.handle(path);
			expect([path, res.status]).toEqual([path, 404]);
			expect(await res.json()).toMatchObject({ code: "not_found" });
		}
		const post = await it.handle("/ui", { method: "POST" });
		expect(post.status).toBe(405);
		expect(post.headers.get("allow")).toBe("GET");
	});

	test("the OpenAPI document does not list the pages", async () => {
		const doc = (await (await it.handle("/swagger/json")).json()) as { paths: Record<string, unknown> };
		expect(Object.keys(doc.paths).filter((p) => p.startsWith("/ui") || p.startsWith("/swagger"))).toEqual([]);
	});
});

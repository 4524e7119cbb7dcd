import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Elysia } from "elysia";
import { RouteNotFound } from "../http/errors";
import { type Asset, asset, clientBundle } from "./bundle";

const STATIC = join(import.meta.dir, "static");
const read = (name: string) => readFileSync(join(STATIC, name), "utf8");
const SWAGGER_DIST = dirname(Bun.resolveSync("swagger-ui-dist/package.json", import.meta.dir));

const PAGE = asset(read("index.html"), "text/html; charset=utf-8");
const SWAGGER_PAGE = asset(read("swagger.html"), "text/html; charset=utf-8");
const CSS = asset(read("app.css"), "text/css; charset=utf-8");
/** The two files of swagger-ui-dist the page loads, read once (1.5 MB) on first use. */
const SWAGGER_FILES: Record<string, string> = {
	"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
	"swagger-ui.css": "text/css; charset=utf-8",
};
const swaggerFiles = new Map<string, Asset>();

/**
 * Only this origin, ever: the page works in a pod with no way out, and markup
 * an agent smuggles into an event could load nothing even if it were rendered.
 */
const UI_CSP =
	"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/** Swagger UI sets inline styles and shows data: images. */
const SWAGGER_CSP =
	"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

function send(file: Asset, request: Request, csp?: string): Response {
	const headers: Record<string, string> = {
		"content-type": file.type,
		// Revalidate every time (cheap: 304 by ETag), so a new image's page is never mixed with an old script.
		"cache-control": "no-cache",
		etag: file.etag,
		"x-content-type-options": "nosniff",
		"referrer-policy": "no-referrer",
	};
	if (csp) headers["content-security-policy"] = csp;
	if (request.headers.get("if-none-match") === file.etag) return new Response(null, { status: 304, headers });
	return new Response(file.body, { headers });
}

async function uiAsset(name: string): Promise<Asset> {
	if (name === "app.css") return CSS;
	const file = (await clientBundle()).get(name);
	if (!file || name === "swagger.js") throw new RouteNotFound();
	return file;
}

async function swaggerAsset(name: string): Promise<Asset> {
	if (name === "init.js") {
		const file = (await clientBundle()).get("swagger.js");
		if (file) return file;
	}
	const type = SWAGGER_FILES[name];
	if (!type) throw new RouteNotFound();
	let file = swaggerFiles.get(name);
	if (!file) {
		file = asset(new Uint8Array(await Bun.file(join(SWAGGER_DIST, name)).arrayBuffer()), type);
		swaggerFiles.set(name, file);
	}
	return file;
}

const UI_PATH = /^\/ui(\/|\/sessions\/[^/]+\/?|\/assets\/[^/]+)?$/;
const SWAGGER_PATH = /^\/swagger(\/|\/assets\/[^/]+)?$/;

/** Methods the UI's paths answer, for 405 on the others. */
export function uiAllowedMethods(path: string): string[] | undefined {
	return UI_PATH.test(path) || SWAGGER_PATH.test(path) ? ["GET"] : undefined;
}

/**
 * The inspector (/ui, /ui/sessions/{id}) and Swagger UI (/swagger), with every
 * asset they load served from here: a task pod usually has no way out. None of
 * these holds anything secret, and a browser cannot send a bearer header when
 * it loads a page, so they are served without the token (see app.ts); every
 * API call the pages make sends it. Hidden from the OpenAPI document.
 */
export function uiRoutes() {
	const hide = { detail: { hide: true } };
	return new Elysia({ name: "ui" })
		.get("/ui", ({ request }) => send(PAGE, request, UI_CSP), hide)
		.get("/ui/sessions/:id", ({ request }) => send(PAGE, request, UI_CSP), hide)
		.get("/ui/assets/:file", async ({ params, request }) => send(await uiAsset(params.file), request), hide)
		.get("/swagger", ({ request }) => send(SWAGGER_PAGE, request, SWAGGER_CSP), hide)
		.get("/swagger/assets/:file", async ({ params, request }) => send(await swaggerAsset(params.file), request), hide);
}

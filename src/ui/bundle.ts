import { join } from "node:path";

/** A file the UI serves, ready to send. */
export interface Asset {
	readonly body: string | Uint8Array<ArrayBuffer>;
	readonly type: string;
	readonly etag: string;
}

const CLIENT = join(import.meta.dir, "client");

const etagOf = (body: string | Uint8Array) => `"${Bun.hash(body).toString(36)}"`;

export function asset(body: string | Uint8Array<ArrayBuffer>, type: string): Asset {
	return { body, type, etag: etagOf(body) };
}

/**
 * The browser code (src/ui/client/*.ts, with eventsource-parser) bundled and
 * minified by `Bun.build` in memory, once, on the first request for it: the
 * image holds only sources, the root filesystem may be read-only, and a
 * sidecar nobody opens the page on never pays for the build.
 */
let built: Promise<Map<string, Asset>> | undefined;

export function clientBundle(): Promise<Map<string, Asset>> {
	built ??= (async () => {
		const result = await Bun.build({
			entrypoints: [join(CLIENT, "main.ts"), join(CLIENT, "swagger.ts")],
			target: "browser",
			format: "esm",
			minify: true,
			splitting: false,
		});
		if (!result.success) throw new AggregateError(result.logs, "the /ui bundle did not build");
		const files = new Map<string, Asset>();
		for (const out of result.outputs) {
			const name = out.path.split("/").at(-1) ?? "";
			files.set(name === "main.js" ? "app.js" : name, asset(await out.text(), "text/javascript; charset=utf-8"));
		}
		return files;
	})();
	// A failed build is retried on the next request rather than cached.
	built.catch(() => {
		built = undefined;
	});
	return built;
}

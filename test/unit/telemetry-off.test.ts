import { expect, test } from "bun:test";
import { join, resolve } from "node:path";

const REPO = resolve(import.meta.dir, "../..");

/** In a fresh process: builds the sidecar's module graph as src/main.ts does, and lists the OpenTelemetry packages loaded. */
async function loadedPackages(env: Record<string, string>): Promise<{ enabled: boolean; packages: string[] }> {
	const script = `
		await import(${JSON.stringify(join(REPO, "src/sidecar.ts"))});
		const { loadTracing } = await import(${JSON.stringify(join(REPO, "src/telemetry/load.ts"))});
		const tracing = await loadTracing(process.env, { podName: "", podNamespace: "", podUid: "" }, "test");
		const packages = new Set();
		for (const path of Object.keys(require.cache)) {
			const m = /node_modules\\/(@opentelemetry\\/[^/]+)\\//.exec(path);
			if (m) packages.add(m[1]);
		}
		console.log(JSON.stringify({ enabled: tracing.enabled, packages: [...packages].sort() }));
		await tracing.shutdown(100);`;
	const proc = Bun.spawn([join(REPO, "node_modules/.bin/bun"), "-e", script], {
		cwd: REPO,
		env: { PATH: process.env.PATH ?? "", ...env },
		stdout: "pipe",
		stderr: "pipe",
	});
	const [out, err] = [await new Response(proc.stdout).text(), await new Response(proc.stderr).text()];
	expect({ code: await proc.exited, err }).toMatchObject({ code: 0 });
	return JSON.parse(out.trim().split("\n").at(-1) ?? "{}");
}

test("tracing off (no OTLP endpoint): no OpenTelemetry SDK module is loaded", async () => {
	const off = await loadedPackages({});
	expect(off.enabled).toBe(false);
	// @opentelemetry/api alone is prom-client's (exemplars), loaded before this feature too.
	expect(off.packages.filter((p) => p !== "@opentelemetry/api")).toEqual([]);
	const disabled = await loadedPackages({
		OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9",
		OTEL_SDK_DISABLED: "true",
	});
	expect(disabled.packages.filter((p) => p !== "@opentelemetry/api")).toEqual([]);
});

test("tracing on: the SDK and the OTLP protobuf exporter are loaded (what the test above looks for)", async () => {
	const on = await loadedPackages({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9" });
	expect(on.enabled).toBe(true);
	expect(on.packages).toEqual(
		expect.arrayContaining([
			"@opentelemetry/sdk-trace",
			"@opentelemetry/exporter-trace-otlp-proto",
			"@opentelemetry/resources",
		]),
	);
});

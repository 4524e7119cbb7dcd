import { gzipSync } from "node:zlib";
import { launchBrowser, shownIds } from "../../test/support/browser";
import type { ScriptedLlm } from "../../test/support/scripted-llm";
import { cancel, createSession } from "../lib/api";
import { type Row, type RowResult, ratio } from "../lib/result";
import type { SidecarHost } from "../lib/sidecar-host";
import { median, round } from "../lib/stats";

const EVENTS = 10_000;
const RUNS = 5;
const PAGE = ["/ui", "/ui/assets/app.js", "/ui/assets/app.css"];
const SWAGGER = [
	"/swagger",
	"/swagger/assets/swagger-ui-bundle.js",
	"/swagger/assets/swagger-ui.css",
	"/swagger/assets/init.js",
];

async function transfer(base: string, paths: string[]): Promise<{ bytes: number; gzip: number }> {
	let bytes = 0;
	let gzip = 0;
	for (const p of paths) {
		const body = new Uint8Array(await (await fetch(`${base}${p}`)).arrayBuffer());
		bytes += body.byteLength;
		gzip += gzipSync(body).byteLength;
	}
	return { bytes, gzip };
}

/**
 * The inspector (issue 15): what the page weighs, and how long headless Chromium takes to show a
 * 10,000-event session, next to the same browser fetching the same events as raw text into a `<pre>`.
 */
export async function uiRows(host: SidecarHost, llm: ScriptedLlm): Promise<RowResult> {
	const page = await transfer(host.base, PAGE);
	const swagger = await transfer(host.base, SWAGGER);

	// A session of exactly EVENTS events, made as runs make them (see the replay rows): token events, then a cancel.
	const { id } = await createSession(host.base, llm, [{ kind: "hang" }]);
	await host.child.request({
		op: "inject",
		session: id,
		count: EVENTS - 3,
		perSecond: Number.POSITIVE_INFINITY,
		prefix: "token",
	});
	await cancel(host.base, id);
	const { last_event_id: events } = (await (await fetch(`${host.base}/sessions/${id}/status`)).json()) as {
		last_event_id: number;
	};

	const browser = await launchBrowser("chromium");
	const ui: number[] = [];
	const raw: number[] = [];
	try {
		const tab = await browser.newPage();
		for (let i = 0; i < RUNS; i++) {
			// The page from navigation start until every event is in the DOM and a frame has been painted.
			await tab.goto(`${host.base}/ui/sessions/${id}`, { waitUntil: "domcontentloaded" });
			await tab.waitForSelector(`#events [data-id="${events}"]`, { timeout: 60_000 });
			ui.push(await tab.evaluate(() => new Promise<number>((r) => requestAnimationFrame(() => r(performance.now())))));
			const shown = await shownIds(tab);
			if (shown.length !== events || shown.some((id, k) => id !== k + 1))
				throw new Error(`the page shows ${shown.length} events, not each of 1..${events} once`);

			// Baseline: a same-origin page (a probe's JSON) loaded, then the same stream fetched whole into a <pre>.
			await tab.goto(`${host.base}/healthz`, { waitUntil: "domcontentloaded" });
			raw.push(
				await tab.evaluate(async (path) => {
					const res = await fetch(path);
					const pre = document.createElement("pre");
					pre.textContent = await res.text();
					document.body.append(pre);
					return new Promise<number>((r) => requestAnimationFrame(() => r(performance.now())));
				}, `/sessions/${id}/stream`),
			);
		}
	} finally {
		await browser.close();
	}
	if (browser.offsite.length > 0) throw new Error(`the page made requests off this host: ${browser.offsite.join(" ")}`);
	const uiMs = median(ui);
	const rawMs = median(raw);
	const rows: Row[] = [
		{
			id: "ui.page.bytes",
			figure: "inspector page: transfer size of /ui with its script and stylesheet (uncompressed, as served)",
			baseline: { label: "Swagger UI at /swagger with its assets", value: round(swagger.bytes / 1024), unit: "KiB" },
			measured: { value: round(page.bytes / 1024), unit: "KiB" },
			comparison: { kind: "ratio", value: round(ratio(page.bytes, swagger.bytes)) },
			goal: "small (≤ 50 KiB)",
			met: page.bytes <= 50 * 1024,
			detail: {
				bytes: page.bytes,
				gzip_bytes: page.gzip,
				swagger_bytes: swagger.bytes,
				swagger_gzip_bytes: swagger.gzip,
			},
		},
		{
			id: "ui.session.10k",
			figure: `inspector: time to show a ${events.toLocaleString("en")}-event session in headless Chromium, navigation to painted (median of ${RUNS})`,
			baseline: {
				label: "the same browser loading the same events as raw text into a <pre>",
				value: round(rawMs),
				unit: "ms",
			},
			measured: { value: round(uiMs), unit: "ms" },
			comparison: { kind: "ratio", value: round(ratio(uiMs, rawMs)) },
			goal: "< 1 s",
			met: uiMs < 1000,
			detail: { events, ui_ms: ui.map(round), raw_ms: raw.map(round) },
		},
	];
	return {
		rows,
		notes: [
			`UI: transfer sizes are the bytes /ui, /ui/assets/app.js and /ui/assets/app.css answer (the sidecar does not compress; gzip would make them ${round(page.gzip / 1024)} KiB). The ${events.toLocaleString("en")}-event session is made like the replay rows' (token events published in the host, then a cancel). The page is timed from navigation start to the first animation frame after all ${events.toLocaleString("en")} events are in the DOM; the baseline, in the same tab and run, loads a same-origin page and fetches the same stream whole into a \`<pre>\`.`,
		],
	};
}

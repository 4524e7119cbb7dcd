/**
 * Part of scripts/image-smoke.sh: loads the inspector (/ui, /ui/sessions/{id}) and Swagger UI (/swagger)
 * of the sidecar running from the image, in Debian's headless Chromium, inside the smoke test's network
 * namespace (loopback only). Fails when any request goes anywhere but the sidecar, or any page asset
 * does not answer 200 (or 304).
 *
 *   bun scripts/image-ui-check.ts <base url> <shared secret> <session id>
 */
import type { HTTPResponse } from "puppeteer-core";
import { launchBrowser, shownIds } from "../test/support/browser";

const [base, secret, sessionId] = process.argv.slice(2);
if (!base || !secret || !sessionId) throw new Error("usage: image-ui-check.ts <base> <secret> <session id>");
const origin = new URL(base).origin;

const browser = await launchBrowser("chromium");
const seen: string[] = [];
const bad: string[] = [];
try {
	const page = await browser.newPage();
	page.on("request", (req) => {
		seen.push(req.url());
		if (new URL(req.url()).origin !== origin && !req.url().startsWith("data:")) bad.push(`off-origin: ${req.url()}`);
	});
	page.on("requestfailed", (req) => bad.push(`failed: ${req.url()} ${req.failure()?.errorText ?? ""}`));
	page.on("response", (res: HTTPResponse) => {
		const path = new URL(res.url()).pathname;
		// The API answers 401 until the token is entered; that is the page's flow, not a missing asset.
		if ((path.startsWith("/ui") || path.startsWith("/swagger")) && ![200, 304].includes(res.status()))
			bad.push(`${res.status()}: ${res.url()}`);
	});

	await page.goto(`${base}/ui`, { waitUntil: "domcontentloaded" });
	const needed = await page.waitForSelector("#auth-needed", { timeout: 20_000 });
	const text = await needed?.evaluate((e) => e.textContent);
	if (text !== "401: token needed") bad.push(`/ui without a token shows "${text}"`);
	await page.type("#token", secret);
	await page.click("#token-form button");
	await page.waitForSelector(`tr[data-session="${sessionId}"]`, { timeout: 20_000 });
	console.log(`ui-check: /ui asked for the token, then listed session ${sessionId}`);

	await page.goto(`${base}/ui/sessions/${sessionId}`, { waitUntil: "domcontentloaded" });
	await page.waitForSelector('#events [data-type="complete"]', { timeout: 20_000 });
	const events = (await shownIds(page)).length;
	console.log(`ui-check: /ui/sessions/{id} showed ${events} events up to complete`);

	await page.goto(`${base}/swagger`, { waitUntil: "domcontentloaded" });
	await page.waitForSelector("#operations-sessions-listSessions", { timeout: 30_000 });
	console.log("ui-check: /swagger rendered the operations (Swagger UI from swagger-ui-dist in the image)");
} catch (error) {
	bad.push(error instanceof Error ? error.message : String(error));
} finally {
	await browser.close();
}
bad.push(...browser.offsite.map((u) => `left the pod: ${u}`));
const origins = [...new Set(seen.map((u) => (u.startsWith("data:") ? "data:" : new URL(u).origin)))];
console.log(`ui-check: ${seen.length} requests, origins: ${origins.join(" ")}`);
if (bad.length > 0) {
	for (const b of [...new Set(bad)]) console.error(`ui-check: ${b}`);
	process.exit(1);
}

/**
 * The inspector's core flow in Firefox ESR (Debian's, driven over WebDriver BiDi by puppeteer-core):
 * the token form, the list, a live session to its end with each event shown once, a question answered
 * with a button. The full set of checks runs in Chromium (inspector.test.ts).
 */
import { expect } from "bun:test";
import { postSession, sessionBody } from "../support/api";
import { screenshot, shownIds, useBrowser } from "../support/browser";
import { useE2eSidecar } from "../support/e2e";
import { questionCall } from "../support/scripted-llm";
import { NEEDS, testNeeding } from "../support/system";

const SECRET = `ui-ff-secret-${crypto.randomUUID()}`;
const e2e = useE2eSidecar({
	env: { OPENCODE_SHARED_SECRET: SECRET, QUESTION_TIMEOUT: "60" },
	warmUp: false,
	secrets: [SECRET],
});
const auth = { authorization: `Bearer ${SECRET}` };
const firefox = useBrowser("firefox");
const test = testNeeding(NEEDS.firefox);

test("Firefox: token, list, a live session with a question answered by a button, each event once", async () => {
	const page = await firefox.newPage();
	await page.goto(`${e2e.sidecar.url}/ui`, { waitUntil: "domcontentloaded" });
	const needed = await page.waitForSelector("#auth-needed", { timeout: 20_000 });
	expect(await needed?.evaluate((e) => e.textContent)).toBe("401: token needed");
	await page.type("#token", SECRET);
	await page.click("#token-form button");
	await page.waitForSelector("#sessions tbody", { timeout: 10_000 });

	const key = e2e.newKey("sk-ui-ff", [
		questionCall("Ship it?", "Ship", [
			["yes", "now"],
			["no", "later (Recommended)"],
		]),
		{ kind: "text", text: "Shipping, as you said.", chunks: 4, delayMs: 100 },
	]);
	const body = sessionBody({
		model_config: { api_key: key, api_endpoint: e2e.llm.url, enabled_tools: ["read", "question"] },
	});
	expect((await postSession(e2e.sidecar.url, body, auth)).status).toBe(201);
	const row = await page.waitForSelector(`tr[data-session="${body.session_id}"] a`, { timeout: 2000 });
	await row?.click();
	await page.waitForSelector(".ev-question button", { timeout: 60_000 });
	const [yes] = await page.$$(".ev-question button");
	expect(await yes?.evaluate((b) => b.textContent)).toBe("yes");
	await yes?.click();
	await e2e.llm.waitForRequest((r) => r.key === key && JSON.stringify(r.body).includes("yes"), 30_000);
	await page.waitForSelector('#events [data-type="complete"]', { timeout: 60_000 });
	const status = (await (
		await fetch(`${e2e.sidecar.url}/sessions/${body.session_id}/status`, { headers: auth })
	).json()) as { last_event_id: number };
	expect(await shownIds(page)).toEqual(Array.from({ length: status.last_event_id }, (_, i) => i + 1));
	const html = await page.content();
	e2e.bodies.push(html);
	for (const k of e2e.keys) expect(html).not.toContain(k);
	await screenshot(page, "ui-session-firefox");
});

import { afterAll, beforeAll, expect } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { expandRanges } from "../../src/ui/client/format";
import { allPresent, CHROMIUM_BIN, FIREFOX_BIN, NEEDS } from "./system";

/** Debian's browsers (installed by `npm run setup`, test/support/system.ts): no browser download is possible here. */
export const CHROMIUM = CHROMIUM_BIN;
export const FIREFOX = FIREFOX_BIN;

/** Where tests save screenshots (gitignored). */
export const ARTIFACTS = resolve(import.meta.dir, "../../test-artifacts");

export interface TestBrowser {
	readonly browser: Browser;
	/** Requests any page of this browser made to a host other than loopback (must stay empty). */
	readonly offsite: string[];
	newPage(): Promise<Page>;
	close(): Promise<void>;
}

const isLocal = (url: string) => {
	if (url.startsWith("data:") || url.startsWith("about:") || url.startsWith("blob:")) return true;
	const host = new URL(url).hostname;
	return host === "127.0.0.1" || host === "localhost" || host === "[::1]";
};

/**
 * Registers the file's browser: launched before its tests, closed after them,
 * when no page may have sent a request off loopback. Its pages are new each time.
 */
export function useBrowser(kind: "chromium" | "firefox"): Pick<TestBrowser, "newPage"> {
	let launched: TestBrowser | undefined;
	// Not installed: the file's tests skip or fail (testNeeding), there is nothing to launch or close.
	const installed = allPresent(NEEDS[kind]);
	beforeAll(async () => {
		if (installed) launched = await launchBrowser(kind);
	});
	afterAll(async () => {
		// Not launched: not installed, or an earlier hook failed (that failure is the one to read).
		if (!launched) return;
		await launched.close();
		expect(launched.offsite).toEqual([]);
	});
	return {
		newPage: () => {
			if (!launched) throw new Error("useBrowser: used before beforeAll");
			return launched.newPage();
		},
	};
}

/**
 * Headless Chromium (CDP) or Firefox (WebDriver BiDi) from the distribution,
 * each on a fresh profile. Chromium runs as root here, hence --no-sandbox; the
 * other flags stop it from calling home. Chromium pages fail every request to
 * a non-loopback host (and record it); Firefox pages record them.
 */
export async function launchBrowser(kind: "chromium" | "firefox" = "chromium"): Promise<TestBrowser> {
	const profile = mkdtempSync(join(tmpdir(), `ui-${kind}-`));
	const browser =
		kind === "chromium"
			? await puppeteer.launch({
					executablePath: CHROMIUM,
					headless: true,
					userDataDir: profile,
					args: [
						"--no-sandbox",
						"--disable-gpu",
						"--disable-quic",
						"--no-first-run",
						"--disable-background-networking",
						"--disable-component-update",
						"--disable-sync",
						"--window-size=1280,900",
					],
				})
			: await puppeteer.launch({
					browser: "firefox",
					executablePath: FIREFOX,
					headless: true,
					userDataDir: profile,
				});
	const offsite: string[] = [];
	return {
		browser,
		offsite,
		async newPage() {
			const page = await browser.newPage();
			await page.setViewport({ width: 1280, height: 900 });
			if (kind === "chromium") {
				await page.setRequestInterception(true);
				page.on("request", (req) => {
					if (isLocal(req.url())) return void req.continue();
					offsite.push(req.url());
					void req.abort();
				});
			} else {
				page.on("request", (req) => {
					if (!isLocal(req.url())) offsite.push(req.url());
				});
			}
			return page;
		},
		async close() {
			await browser.close();
			rmSync(profile, { recursive: true, force: true });
		},
	};
}

export async function screenshot(page: Page, name: string): Promise<string> {
	if (!existsSync(ARTIFACTS)) mkdirSync(ARTIFACTS, { recursive: true });
	const path = join(ARTIFACTS, `${name}.png`);
	await page.screenshot({ path: path as `${string}.png`, fullPage: true });
	return path;
}

/**
 * The ids of the events a session view shows, one per rendered event, sorted (a tool's result and output
 * sit under its call, not in id order): equal to 1..N exactly when every event is shown once.
 */
export async function shownIds(page: Page): Promise<number[]> {
	const { own, ranges } = await page.$eval("#events", (root) => ({
		own: [...root.querySelectorAll("[data-id]")].map((e) => Number(e.getAttribute("data-id"))),
		ranges: [...root.querySelectorAll("[data-ids]")].map((e) => e.getAttribute("data-ids") ?? ""),
	}));
	return [...own, ...ranges.flatMap(expandRanges)].sort((a, b) => a - b);
}

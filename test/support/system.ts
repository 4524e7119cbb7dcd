/**
 * Suites that need a Debian package the tests do not install themselves (a browser, setpriv, openssl). Outside
 * CI a missing package skips the file's tests with the reason in their names (scripts/run-tests.ts counts
 * those skips, prints the install line and passes); under `CI=true` each of those tests fails instead.
 */

import { test } from "bun:test";
import { existsSync } from "node:fs";

export interface SystemNeed {
	/** What the suite runs, e.g. `/usr/bin/chromium`. */
	readonly what: string;
	/** The Debian package that provides it. */
	readonly pkg: string;
	readonly present: () => boolean;
}

/** Marks a skipped test's name; scripts/run-tests.ts reads it back from the JUnit report. */
export const MISSING_MARK = "[missing system package: ";

const onPath = (bin: string) => () => Bun.which(bin) !== null;

export const CHROMIUM_BIN = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
export const FIREFOX_BIN = process.env.FIREFOX_BIN ?? "/usr/bin/firefox-esr";
export const OPENSSL_BIN = process.env.OPENSSL_BIN ?? "openssl";

export const NEEDS = {
	chromium: { what: CHROMIUM_BIN, pkg: "chromium", present: () => existsSync(CHROMIUM_BIN) },
	firefox: { what: FIREFOX_BIN, pkg: "firefox-esr", present: () => existsSync(FIREFOX_BIN) },
	// Only root drops to the image's uid with it (test/e2e/containment.test.ts, sidecar-process.ts's runAs).
	setpriv: { what: "setpriv", pkg: "util-linux", present: () => process.getuid?.() !== 0 || onPath("setpriv")() },
	// The Kubernetes suites' test certificates (test/k8s/support/fake-apiserver.ts's makeTestPki).
	openssl: { what: OPENSSL_BIN, pkg: "openssl", present: () => onPath(OPENSSL_BIN)() },
} as const satisfies Record<string, SystemNeed>;

/** The needs of this list that are not installed. */
export const missing = (needs: readonly SystemNeed[]): SystemNeed[] => needs.filter((n) => !n.present());

export const installLine = (pkgs: readonly string[]) => `apt-get install -y ${pkgs.join(" ")} (or: npm run setup)`;

/**
 * `test` when every need is installed; otherwise a `test` that skips (outside CI) or fails (CI=true),
 * naming the missing package and how to install it. Only its call form is there (`test(name, fn, timeout)`).
 * Hooks of a file whose needs are missing must not use them either: check `allPresent(...)` there.
 */
export function testNeeding(...needs: SystemNeed[]): typeof test {
	const absent = missing(needs);
	if (absent.length === 0) return test;
	const pkgs = absent.map((n) => n.pkg);
	const reason = `${absent.map((n) => n.what).join(", ")} not installed: ${installLine(pkgs)}`;
	if (process.env.CI === "true") {
		// Under CI a missing package is a failure of every test that needs it.
		return ((name: string) =>
			test(name, () => {
				throw new Error(reason);
			})) as unknown as typeof test;
	}
	console.warn(`skipping: ${reason}`);
	return ((name: string) => test.skip(`${name} ${MISSING_MARK}${pkgs.join(" ")}]`, () => {})) as unknown as typeof test;
}

/** Whether every need is installed (for hooks: a file's beforeAll starts nothing its skipped tests would use). */
export const allPresent = (...needs: SystemNeed[]) => missing(needs).length === 0;

import { describe, expect, test } from "bun:test";
import { describeSupported, EngineVersionError, identifyRelease, versionIn } from "../../src/engine/generation";

const ok = (stdout: string) => ({ code: 0, stdout, stderr: "" });

describe("the engine's generation, from what `--version` printed", () => {
	test("a supported 1.18 release is generation 1; the version is the last one printed", () => {
		expect(identifyRelease("/bin/opencode", ok("1.18.33\n"))).toEqual({ version: "1.18.33", generation: "1" });
		expect(versionIn("warning: something 0.1.0\nopencode 1.18.2\n")).toBe("1.18.2");
		expect(versionIn("no version here")).toBeUndefined();
	});

	test("OpenCode 2.x's `opencode v2.1.2` is read as 2.1.2: generation 2; 2.2 is refused by name", () => {
		expect(versionIn("opencode v2.1.2\n")).toBe("2.1.2");
		expect(identifyRelease("/x/opencode2", ok("opencode v2.1.2\n"))).toEqual({ version: "2.1.2", generation: "2" });
		expect(() => identifyRelease("/x/opencode2", ok("opencode v2.2.0\n"))).toThrow(
			"OPENCODE_BIN /x/opencode2 is OpenCode 2.2.0, outside the supported: >=1.18.0 <1.19.0 (generation 1), >=2.1.0 <2.2.0 (generation 2)",
		);
	});

	test("a version outside the supported ranges is refused, naming the version and the ranges", () => {
		for (const version of ["1.17.9", "1.19.0", "0.9.0", "2.0.9", "2.2.0", "3.0.0"]) {
			const error = (() => {
				try {
					identifyRelease("/opt/opencode", ok(`${version}\n`));
				} catch (e) {
					return e;
				}
			})();
			expect(error).toBeInstanceOf(EngineVersionError);
			expect((error as Error).message).toBe(
				`OPENCODE_BIN /opt/opencode is OpenCode ${version}, outside the supported: ${describeSupported()}`,
			);
		}
		expect(describeSupported()).toContain(">=1.18.0 <1.19.0 (generation 1)");
	});

	test("a failing or silent `--version` is refused with what it printed", () => {
		expect(() =>
			identifyRelease("/x/opencode", { code: 1, stdout: "", stderr: "postinstall script was not run" }),
		).toThrow("/x/opencode --version exited with code 1 (postinstall script was not run)");
		expect(() => identifyRelease("/x/opencode", ok("hello\n"))).toThrow("printed no version (hello)");
	});
});

/**
 * Which engine generation a binary is, decided from what its `--version`
 * printed: pure (the probe that runs the binary is version-probe.ts). The
 * sidecar picks its engine adapter from the answer and refuses a version it
 * has no adapter for, rather than guess and hang on an API it cannot speak.
 */

/** An engine generation the sidecar has an adapter for. */
export type EngineGeneration = "1" | "2";

/** One supported range: a generation and the versions (semver range, Bun.semver) its adapter was tested on. */
export interface SupportedRange {
	readonly generation: EngineGeneration;
	readonly range: string;
}

/** The versions each adapter was tested on: the minor line of the pinned package (package.json). */
export const SUPPORTED_RANGES: readonly SupportedRange[] = [
	{ generation: "1", range: ">=1.18.0 <1.19.0" },
	{ generation: "2", range: ">=2.1.0 <2.2.0" },
];

/** The engine the sidecar runs: its version, as it printed it, and the adapter that speaks it. */
export interface EngineRelease {
	readonly version: string;
	readonly generation: EngineGeneration;
}

/**
 * The engine cannot be used: its version is unknown or outside every supported range (`transient`:
 * it did not answer in time, which a restart may cure; not a configuration error).
 */
export class EngineVersionError extends Error {
	constructor(
		message: string,
		readonly transient = false,
	) {
		super(message);
		this.name = "EngineVersionError";
	}
}

/** A semver version, alone or after a `v` (1.x prints `1.18.33`, 2.x prints `opencode v2.1.2`). */
const VERSION = /(?<![\w.])v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)(?![\w.])/;

/** The supported ranges as one phrase, for error messages. */
export function describeSupported(ranges: readonly SupportedRange[] = SUPPORTED_RANGES): string {
	return ranges.map((r) => `${r.range} (generation ${r.generation})`).join(", ");
}

/** The version in a `--version` output: the last line that holds one (banners and warnings may precede it). */
export function versionIn(output: string): string | undefined {
	const lines = output
		.split("\n")
		.map((l) => l.trim())
		.filter((l) => l !== "");
	for (const line of lines.reverse()) {
		const m = VERSION.exec(line);
		if (m?.[1]) return m[1];
	}
	return undefined;
}

/**
 * The release behind `--version`'s output and exit code, or an error naming
 * what was printed and the supported ranges.
 */
export function identifyRelease(
	bin: string,
	output: { readonly code: number | null; readonly stdout: string; readonly stderr: string },
	ranges: readonly SupportedRange[] = SUPPORTED_RANGES,
): EngineRelease {
	const supported = `supported: ${describeSupported(ranges)}`;
	const said = (output.stdout.trim() || output.stderr.trim()).split("\n").slice(-3).join(" / ").slice(0, 300);
	if (output.code !== 0) {
		throw new EngineVersionError(
			`${bin} --version exited with code ${output.code ?? "null"}${said ? ` (${said})` : ""}; ${supported}`,
		);
	}
	const version = versionIn(output.stdout);
	if (!version)
		throw new EngineVersionError(`${bin} --version printed no version (${said || "nothing"}); ${supported}`);
	const match = ranges.find((r) => Bun.semver.satisfies(version, r.range));
	if (!match) throw new EngineVersionError(`OPENCODE_BIN ${bin} is OpenCode ${version}, outside the ${supported}`);
	return { version, generation: match.generation };
}

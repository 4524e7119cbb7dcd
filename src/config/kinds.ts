import { isAbsolute, join, resolve } from "node:path";

/** Why a value cannot be used, without the variable's name (the parser adds it). */
export class Invalid extends Error {}

/** What a parser may need besides the value. */
export interface ParseContext {
	/** Where the sidecar's own `node_modules` lives. */
	readonly installDir: string;
}

/**
 * How one variable's text becomes a value: `parse` throws `Invalid` for text
 * it cannot use; `accepts` says in a few words what it takes (the README's
 * "accepts" column). The text is trimmed and never blank unless `raw`.
 */
export interface Kind<T> {
	readonly accepts: string;
	parse(text: string, context: ParseContext): T;
	/** The text is used as given (not trimmed); only an empty value counts as unset. */
	readonly raw?: true;
}

const MIB = 1024 * 1024;

function numberIn(text: string, min: number, max: number, integer: boolean): number {
	const value = Number(text);
	if (text === "" || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
		throw new Invalid(`must be ${integer ? "a whole number" : "a number"}, got "${text}"`);
	}
	if (value < min || value > max) throw new Invalid(`must be between ${min} and ${max}, got ${value}`);
	return value;
}

/** A whole number in [min, max]. */
export const wholeNumber = (min: number, max: number): Kind<number> => ({
	accepts: `whole number, ${min}-${max}`,
	parse: (text) => numberIn(text, min, max, true),
});

/** Seconds in [min, max], fractions allowed (tests use short timeouts); the value is in milliseconds. */
export const seconds = (min: number, max: number): Kind<number> => ({
	accepts: `seconds, ${min}-${max}`,
	parse: (text) => Math.round(numberIn(text, min, max, false) * 1000),
});

/** A whole number of MiB in [min, max]; the value is in bytes. */
export const mebibytes = (min: number, max: number): Kind<number> => ({
	accepts: `MiB, ${min}-${max}`,
	parse: (text) => numberIn(text, min, max, true) * MIB,
});

/** `auto` (undefined: derived at start, e.g. from the container's memory limit) or MiB as `mebibytes`. */
export const mebibytesOrAuto = (min: number, max: number): Kind<number | undefined> => ({
	accepts: `\`auto\` or MiB, ${min}-${max}`,
	parse: (text, context) => (text.toLowerCase() === "auto" ? undefined : mebibytes(min, max).parse(text, context)),
});

/** One of `values`, in any case. */
export const oneOf = <const T extends string>(values: readonly T[]): Kind<T> => ({
	accepts: values.map((v) => `\`${v}\``).join(", "),
	parse(text) {
		const value = text.toLowerCase();
		if (!values.includes(value as T)) throw new Invalid(`must be one of ${values.join(", ")}, got "${text}"`);
		return value as T;
	},
});

/** `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off`. */
export const flag: Kind<boolean> = {
	accepts: "`true` or `false`",
	parse(text) {
		const value = text.toLowerCase();
		if (["true", "1", "yes", "on"].includes(value)) return true;
		if (["false", "0", "no", "off"].includes(value)) return false;
		throw new Invalid(`must be true or false, got "${text}"`);
	},
};

/** Any text. */
export const text: Kind<string> = { accepts: "text", parse: (value) => value };

/** An absolute path, normalised (no trailing slash, no `..`). */
export const absolutePath: Kind<string> = {
	accepts: "absolute path",
	parse(value) {
		if (!isAbsolute(value)) throw new Invalid(`must be an absolute path, got "${value}"`);
		return resolve(value);
	},
};

/** An absolute path, or undefined when empty. */
export const optionalAbsolutePath: Kind<string | undefined> = {
	accepts: "absolute path or empty",
	parse: (value) => (value === "" ? undefined : absolutePath.parse(value, { installDir: "/" })),
};

/** An http:// or https:// URL, or undefined when empty. */
export const optionalHttpUrl: Kind<string | undefined> = {
	accepts: "http(s) URL or empty",
	parse(value) {
		if (value === "") return undefined;
		let url: URL | undefined;
		try {
			url = new URL(value);
		} catch {
			url = undefined;
		}
		if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
			throw new Invalid("must be an http:// or https:// URL");
		}
		return value;
	},
};

/** The engine the sidecar runs when OPENCODE_BIN is empty, below the install directory: OpenCode 1.18. */
export const DEFAULT_ENGINE_BIN = ["node_modules", "opencode-ai", "bin", "opencode.exe"] as const;

/** A path to the engine binary; empty means the one installed with the sidecar. */
export const engineBinary: Kind<string> = {
	accepts: "path or empty",
	// Named by package, not `node_modules/.bin/opencode`: both engine packages install a bin of that name.
	parse: (value, { installDir }) => resolve(value || join(installDir, ...DEFAULT_ENGINE_BIN)),
};

/** A secret of at least `minLength` characters, or undefined when empty. Never quoted in an error. */
export const secret = (minLength: number): Kind<string | undefined> => ({
	accepts: `at least ${minLength} characters, or unset`,
	raw: true,
	parse(value) {
		if (value === "") return undefined;
		if (value.length < minLength) throw new Invalid(`must be at least ${minLength} characters when set`);
		return value;
	},
});

const LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const HOST_ENTRY = new RegExp(`^\\.?${LABEL}(?:\\.${LABEL})*$`);

/**
 * Comma-separated DNS names, each a name (`sidecar.example`) or a suffix
 * starting with a dot (`.svc.cluster.local`); lower-cased. Empty: none.
 */
export const hostNames: Kind<readonly string[]> = {
	accepts: "comma-separated names or `.suffix`es",
	parse(value) {
		const entries = value
			.split(",")
			.map((e) => e.trim().toLowerCase())
			.filter((e) => e !== "");
		for (const entry of entries) {
			if (!HOST_ENTRY.test(entry)) {
				throw new Invalid(`must be DNS names or .suffixes without port or scheme, separated by commas; got "${entry}"`);
			}
		}
		return Object.freeze(entries);
	},
};

import { hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * What the sidecar reads back from `STATE_DIR` is authenticated (issue 19): the agent runs as the
 * sidecar's uid and can rewrite any file there, so a record or an event is used only if it carries a
 * MAC (HMAC-SHA256) under a key the agent cannot read. The keys are derived (HKDF) from
 * `OPENCODE_SHARED_SECRET`, which only the non-dumpable sidecar process holds; without it they are
 * random per process (phase 1), so nothing an earlier process stored can be verified.
 * Hand-written glue only: the primitives are node:crypto's HKDF and Bun's HMAC.
 */
export interface StoredDataKeys {
	/** Derived from the shared secret: data from an earlier process verifies. False: random, this process only. */
	readonly stable: boolean;
	/** Session records (`session.json`). */
	readonly records: Uint8Array;
	/** Event logs; each session's frames are signed under a subkey of it (see `frameKey`). */
	readonly events: Uint8Array;
}

const SALT = "opencode-sidecar stored data v1";

/** The keys for stored data: from the shared secret when there is one, else random for this process. */
export function storedDataKeys(sharedSecret: string | undefined): StoredDataKeys {
	const ikm = sharedSecret ?? randomBytes(32);
	const derive = (purpose: string) => new Uint8Array(hkdfSync("sha256", ikm, SALT, purpose, 32));
	return { stable: sharedSecret !== undefined, records: derive("session records"), events: derive("event logs") };
}

/** Bytes of a MAC as stored: HMAC-SHA256 truncated to 128 bits (RFC 2104 §5 allows half the output). */
export const MAC_BYTES = 16;

function hmac(key: Uint8Array, ...parts: (string | Uint8Array)[]): Uint8Array {
	const h = new Bun.CryptoHasher("sha256", key);
	for (const p of parts) h.update(p);
	return new Uint8Array(h.digest().buffer, 0, MAC_BYTES);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
	return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

// ---- session records ----

const MAC_FIELD = ',"mac":"';
const MAC_TEXT = /^[A-Za-z0-9_-]{22}$/;

/**
 * A record's file text: its JSON with a last member `"mac"`, the MAC of the JSON before it (as
 * written, so no canonical form is needed) bound to the session's id (a record moved to another
 * session's directory does not verify).
 */
export function signRecord(key: Uint8Array, sessionId: string, json: string): string {
	if (!json.endsWith("}") || json === "{}") throw new Error("a record is a non-empty JSON object");
	const mac = Buffer.from(hmac(key, sessionId, "\n", json)).toString("base64url");
	return `${json.slice(0, -1)}${MAC_FIELD}${mac}"}`;
}

/** Why a stored record is not used as the sidecar's own. */
export type RecordProblem = "no_mac" | "bad_mac";

/**
 * Splits a record's file text into its JSON and whether it verified: `problem` is absent when the
 * MAC matches, `no_mac` for a record without one (written by a version before MACs, or stripped),
 * `bad_mac` when it does not match (changed on disk, or signed under another key).
 */
export function openRecord(
	key: Uint8Array,
	sessionId: string,
	text: string,
): { json: string; problem?: RecordProblem } {
	const at = text.lastIndexOf(MAC_FIELD);
	if (at === -1) return { json: text, problem: "no_mac" };
	const encoded = text.slice(at + MAC_FIELD.length, -2);
	// Not as signRecord writes it (the object rewritten, say): the whole text is the record, unverified.
	if (!text.endsWith('"}') || !MAC_TEXT.test(encoded)) return { json: text, problem: "bad_mac" };
	const json = `${text.slice(0, at)}}`;
	const given = Buffer.from(encoded, "base64url");
	return equal(given, hmac(key, sessionId, "\n", json)) ? { json } : { json, problem: "bad_mac" };
}

// ---- event frames ----

/** A session's subkey for its event frames: frames copied from another session's log do not verify. */
export function frameKey(eventsKey: Uint8Array, sessionId: string): Uint8Array {
	return new Uint8Array(hmac(eventsKey, "frames of session ", sessionId).buffer.slice(0, 32));
}

/**
 * Signs and verifies one session's frames. A frame's MAC covers its bytes, which hold its id, so a
 * frame moved to another place in the log does not verify either. Keyed once; each MAC copies the
 * keyed state (about 3x faster than keying per frame).
 */
export class FrameMac {
	private readonly keyed: Bun.CryptoHasher;

	constructor(key: Uint8Array) {
		this.keyed = new Bun.CryptoHasher("sha256", key);
	}

	sign(frame: Uint8Array): Uint8Array {
		return new Uint8Array(this.keyed.copy().update(frame).digest().buffer, 0, MAC_BYTES);
	}

	verify(frame: Uint8Array, mac: Uint8Array): boolean {
		return equal(this.sign(frame), mac);
	}
}

const FRAME_END = 0x0a;

/**
 * Checks the frames in `bytes` (whole frames, the first with id `firstId`) against `macs` (MAC_BYTES
 * each, in id order): each must carry the id that follows and its MAC. Returns how many leading frames
 * verified and where they end; `failed` is the id of the first that did not.
 */
export function verifyFrames(
	mac: FrameMac,
	bytes: Uint8Array,
	firstId: number,
	macs: Uint8Array,
): { frames: number; end: number; failed?: number } {
	const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
	let at = 0;
	let frames = 0;
	while (at < buf.length) {
		const id = firstId + frames;
		const end = buf.indexOf("\n\n", at);
		if (end === -1) break;
		const next = end + 2;
		const given = macs.subarray(frames * MAC_BYTES, (frames + 1) * MAC_BYTES);
		if (given.byteLength < MAC_BYTES || !hasId(buf, at, id) || !mac.verify(buf.subarray(at, next), given)) {
			return { frames, end: at, failed: id };
		}
		frames++;
		at = next;
	}
	return { frames, end: at };
}

/** Whether the frame at `at` starts `event: …\nid: <id>\n`. */
function hasId(buf: Buffer, at: number, id: number): boolean {
	const line = buf.indexOf(FRAME_END, at);
	if (line === -1) return false;
	const want = `id: ${id}\n`;
	return buf.toString("latin1", line + 1, line + 1 + want.length) === want;
}

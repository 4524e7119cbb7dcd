import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GitFailed, runGit } from "../../src/workspace/git-run";

const repo = mkdtempSync(join(tmpdir(), "sidecar-git-run-"));
afterAll(() => rmSync(repo, { recursive: true, force: true }));
const TIMEOUT = 60_000;

describe("runGit", () => {
	test("resolves with git's stdout, bytes as written (NUL separators, UTF-8 names)", async () => {
		await runGit(["init", "-q", repo], { timeoutMs: TIMEOUT });
		writeFileSync(join(repo, "é ü.txt"), "x");
		writeFileSync(join(repo, "b.txt"), "y");
		const out = await runGit(["-C", repo, "-c", "core.quotePath=false", "ls-files", "-z", "--others"], {
			timeoutMs: TIMEOUT,
		});
		expect(out.split("\0").sort()).toEqual(["", "b.txt", "é ü.txt"]);
		rmSync(join(repo, "b.txt"));
	});

	test("takes cwd and env", async () => {
		const out = await runGit(["config", "--get", "sidecar.probe"], {
			cwd: repo,
			env: { ...process.env, GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "sidecar.probe", GIT_CONFIG_VALUE_0: "on" },
			timeoutMs: TIMEOUT,
		});
		expect(out).toBe("on\n");
	});

	test("feeds stdin, and leaves no descriptor of it open once the call is done", async () => {
		const descriptors = () =>
			readdirSync("/proc/self/fd").map((fd) => {
				try {
					return readlinkSync(`/proc/self/fd/${fd}`);
				} catch {
					return "";
				}
			});
		const before = descriptors().filter((t) => t.includes("memfd")).length;
		const ids: string[] = [];
		for (let i = 0; i < 5; i++)
			ids.push(
				(await runGit(["-C", repo, "hash-object", "--stdin"], { stdin: `blob ${i}\n`, timeoutMs: TIMEOUT })).trim(),
			);
		expect(new Set(ids).size).toBe(5);
		expect(ids.every((id) => /^[0-9a-f]{40}$/.test(id))).toBe(true);
		// A Blob as stdin is a memfd that stays open until the process object is collected (one per call).
		expect(descriptors().filter((t) => t.includes("memfd")).length).toBe(before);
	});

	test("a non-zero exit rejects with the exit code and git's message", async () => {
		const error = await runGit(["-C", repo, "rev-parse", "--verify", "no-such-ref"], { timeoutMs: TIMEOUT }).catch(
			(e: unknown) => e,
		);
		expect(error).toBeInstanceOf(GitFailed);
		expect((error as GitFailed).exitCode).toBe(128);
		expect((error as GitFailed).message).toContain("git -C");
		expect((error as GitFailed).message).toContain("Needed a single revision");
	});

	test("more output than maxBuffer: git is killed and the call rejects", async () => {
		writeFileSync(join(repo, "big.bin"), Buffer.alloc(2 << 20, 120));
		const blob = (await runGit(["-C", repo, "hash-object", "-w", "big.bin"], { timeoutMs: TIMEOUT })).trim();
		const all = await runGit(["-C", repo, "cat-file", "blob", blob], { timeoutMs: TIMEOUT });
		expect(all.length).toBe(2 << 20);
		const error = await runGit(["-C", repo, "cat-file", "blob", blob], {
			timeoutMs: TIMEOUT,
			maxBuffer: 64 * 1024,
		}).catch((e: unknown) => e);
		expect(error).toBeInstanceOf(GitFailed);
		expect((error as GitFailed).signal).toBe("SIGKILL");
	});

	test("past its timeout git is killed and the call rejects, without waiting for what git started", async () => {
		// An alias runs a shell that outlives git; its end of the pipes must not hold the call.
		const error = await runGit(["-c", "alias.wait=!sleep 3", "wait"], { timeoutMs: 100 }).catch((e: unknown) => e);
		expect(error).toBeInstanceOf(GitFailed);
		expect((error as GitFailed).signal).toBe("SIGKILL");
	});
});

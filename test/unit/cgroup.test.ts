import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CgroupMemory, parseBytes, parseProcCgroup } from "../../src/resources/cgroup";

// Fixture directories stand in for /sys/fs/cgroup: the reader only reads, and a test never makes a real cgroup.

const root = mkdtempSync(join(tmpdir(), "cgroup-test-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function fixture(files: Record<string, string>): string {
	const dir = mkdtempSync(join(root, "fs-"));
	for (const [path, text] of Object.entries(files)) {
		mkdirSync(join(dir, path, ".."), { recursive: true });
		writeFileSync(join(dir, path), text);
	}
	return dir;
}

describe("/proc/self/cgroup", () => {
	test("v2: the unified line", () => {
		expect(parseProcCgroup("0::/kubepods/pod1/c1\n")).toEqual({ version: 2, path: "/kubepods/pod1/c1" });
	});
	test("v1: the memory controller's line wins", () => {
		expect(parseProcCgroup("5:cpu,cpuacct:/a\n4:memory:/process_api/x\n0::/\n")).toEqual({
			version: 1,
			path: "/process_api/x",
		});
	});
	test("nothing usable", () => {
		expect(parseProcCgroup("")).toBeUndefined();
	});
});

describe("limits", () => {
	test("`max`, v1's 2^63-1 and garbage are no limit", () => {
		expect(parseBytes("max\n")).toBeUndefined();
		expect(parseBytes("9223372036854771712\n")).toBeUndefined();
		expect(parseBytes("lots")).toBeUndefined();
		expect(parseBytes("1073741824\n")).toBe(1073741824);
	});

	test("v2: memory.max and memory.current of the process's own cgroup", () => {
		const dir = fixture({ "pod/c1/memory.max": "1073741824\n", "pod/c1/memory.current": "52428800\n" });
		const cg = new CgroupMemory({ root: dir, procCgroup: () => "0::/pod/c1\n" });
		expect(cg.limit()).toBe(1073741824);
		expect(cg.usage()).toBe(52428800);
	});

	test("v2 in a cgroup namespace: the mount's root is the container's cgroup", () => {
		const dir = fixture({ "memory.max": "536870912\n", "memory.current": "1000\n" });
		const cg = new CgroupMemory({ root: dir, procCgroup: () => "0::/\n" });
		expect(cg.limit()).toBe(536870912);
		expect(cg.usage()).toBe(1000);
	});

	test("v1: memory.limit_in_bytes and memory.usage_in_bytes", () => {
		const dir = fixture({
			"memory/task/memory.limit_in_bytes": "268435456\n",
			"memory/task/memory.usage_in_bytes": "4096\n",
		});
		const cg = new CgroupMemory({ root: dir, procCgroup: () => "4:memory:/task\n0::/\n" });
		expect(cg.limit()).toBe(268435456);
		expect(cg.usage()).toBe(4096);
	});

	test("`max` or no file at all: no limit, and the usage may still be known", () => {
		const dir = fixture({ "memory.max": "max\n", "memory.current": "77\n" });
		expect(new CgroupMemory({ root: dir, procCgroup: () => "0::/\n" }).limit()).toBeUndefined();
		expect(new CgroupMemory({ root: dir, procCgroup: () => "0::/\n" }).usage()).toBe(77);
		expect(new CgroupMemory({ root: join(dir, "absent"), procCgroup: () => "0::/\n" }).limit()).toBeUndefined();
		const unreadable = new CgroupMemory({
			root: dir,
			procCgroup: () => {
				throw new Error("no /proc");
			},
		});
		expect(unreadable.limit()).toBeUndefined();
	});
});

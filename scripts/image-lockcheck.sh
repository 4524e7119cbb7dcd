#!/bin/sh
# Run by the Dockerfile's build stage after `npm install --omit=dev`: fails
# unless every package on disk has exactly the version that the committed
# lockfile (copied to $1 before the install) names for its path, and every
# production package of that lockfile for this platform is on disk. npm
# install (not npm ci) is used for the reason given in .ci/run; this check is
# what makes it "from the lockfile".
set -eu
node - "$1" <<'JS'
const { existsSync, readFileSync } = require("node:fs");
const locked = JSON.parse(readFileSync(process.argv[2], "utf8")).packages;
const problems = [];
let checked = 0;
for (const [path, entry] of Object.entries(locked)) {
	if (path === "" || entry.link) continue;
	const manifest = `${path}/package.json`;
	if (!existsSync(manifest)) {
		const foreign =
			(entry.os && !entry.os.includes(process.platform)) ||
			(entry.cpu && !entry.cpu.includes(process.arch));
		if (!entry.dev && !entry.optional && !entry.peer && !foreign)
			problems.push(`${path}: missing`);
		continue;
	}
	const version = JSON.parse(readFileSync(manifest, "utf8")).version;
	if (entry.dev) problems.push(`${path}: dev dependency installed`);
	else if (version !== entry.version)
		problems.push(`${path}: ${version} installed, lockfile says ${entry.version}`);
	checked++;
}
if (problems.length > 0) {
	console.error(`lockfile check failed:\n  ${problems.join("\n  ")}`);
	process.exit(1);
}
console.log(`lockfile check: ${checked} packages match package-lock.json`);
JS

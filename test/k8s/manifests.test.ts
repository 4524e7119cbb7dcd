import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
import { VARIABLES } from "../../src/config/variables";
import { healthRoutes } from "../../src/health/routes";
import { SUMMARY_ANNOTATION } from "../../src/k8s/summary";
import { containersOf, type K8sObject, keyOf, parseYamlDocuments, renderKustomization } from "./support/kustomize";

const root = join(import.meta.dir, "../..");
const k8sDir = join(root, "k8s");
const objects = renderKustomization(k8sDir);
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");

const find = (kind: string, name?: string) => {
	const o = objects.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
	if (!o) throw new Error(`no ${kind}${name ? ` ${name}` : ""} in the rendered kustomization`);
	return o;
};
const pod = find("Pod");
const spec = pod.spec;
const sidecar: K8sObject = spec.initContainers.find((c: K8sObject) => c.name === "opencode-sidecar");
const env = new Map<string, K8sObject>(sidecar.env.map((e: K8sObject) => [e.name, e]));
const envValue = (name: string): string | undefined => env.get(name)?.value;
const defaultOf = (name: string) => VARIABLES.find((v) => v.name === name)?.default;

describe("the kustomization", () => {
	test("renders the objects a task pod needs, all in one namespace", () => {
		expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
			"Namespace/opencode-tasks",
			"NetworkPolicy/opencode-sidecar-ingress",
			"PersistentVolumeClaim/opencode-task-workspace",
			"Pod/opencode-task",
			"Role/opencode-sidecar",
			"RoleBinding/opencode-sidecar",
			"Secret/opencode-sidecar",
			"ServiceAccount/opencode-sidecar",
		]);
		for (const o of objects.filter((x) => x.kind !== "Namespace"))
			expect(o.metadata.namespace, keyOf(o)).toBe("opencode-tasks");
	});

	test("every object validates against the Kubernetes schema of its kind", async () => {
		for (const o of objects) {
			// kubernetes-models lays its classes out as <group>/<version>/<Kind> (core: v1/<Kind>).
			const mod = await import(`kubernetes-models/${o.apiVersion}/${o.kind}`);
			const Model = mod[o.kind];
			expect(Model, keyOf(o)).toBeDefined();
			expect(() => new Model(o).validate(), keyOf(o)).not.toThrow();
		}
	});

	test("no object has a field its kind does not define", () => {
		// The schemas allow unknown fields (as the API server does without strict field validation), so a
		// misspelt field would pass unseen. TypeScript's excess-property check over kubernetes-models' types
		// catches it: every object becomes a typed literal, plus one broken copy that must be caught.
		const broken = structuredClone(pod);
		broken.spec.initContainers[1].readinesProbe = broken.spec.initContainers[1].readinessProbe;
		const literals = [...objects, broken].map(
			(o, i) =>
				`import type { I${o.kind} as T${i} } from "kubernetes-models/${o.apiVersion}/${o.kind}";\n` +
				`export const object${i}: T${i} = ${JSON.stringify(o, null, 1)};`,
		);
		const file = join(import.meta.dir, "__rendered_manifests__.ts");
		const options: ts.CompilerOptions = {
			strict: true,
			noEmit: true,
			skipLibCheck: true,
			types: [],
			target: ts.ScriptTarget.ES2022,
			module: ts.ModuleKind.ESNext,
			moduleResolution: ts.ModuleResolutionKind.Bundler,
		};
		const host = ts.createCompilerHost(options);
		const readSource = host.getSourceFile.bind(host);
		const exists = host.fileExists.bind(host);
		host.getSourceFile = (name, language, ...rest) =>
			name === file ? ts.createSourceFile(name, literals.join("\n"), language) : readSource(name, language, ...rest);
		host.fileExists = (name) => name === file || exists(name);
		const problems = ts
			.getPreEmitDiagnostics(ts.createProgram([file], options, host))
			.map((d) => ts.flattenDiagnosticMessageText(d.messageText, " "));
		expect(problems).toEqual([expect.stringContaining("'\"readinesProbe\"' does not exist in type 'IContainer'")]);
	}, 60_000); // type-checking kubernetes-models takes seconds on a loaded machine

	test("the schema validation does catch a broken manifest", async () => {
		const { Pod } = await import("kubernetes-models/v1/Pod");
		const broken = structuredClone(pod);
		broken.spec.initContainers[1].ports[0].containerPort = "3003";
		expect(() => new Pod(broken).validate()).toThrow(/containerPort/);
	});

	test("matches `kubectl kustomize` wherever kubectl is installed", () => {
		const kubectl = Bun.which("kubectl");
		if (!kubectl) return; // CI machines may not have it; the renderer refuses fields it does not implement.
		const out = Bun.spawnSync([kubectl, "kustomize", k8sDir], { stderr: "pipe" });
		expect(out.exitCode, out.stderr.toString()).toBe(0);
		const theirs = new Map(parseYamlDocuments(out.stdout.toString()).map((o) => [keyOf(o), o]));
		expect([...theirs.keys()].sort()).toEqual(objects.map(keyOf).sort());
		for (const o of objects) expect(o, keyOf(o)).toEqual(theirs.get(keyOf(o)) ?? {});
	});
});

describe("the sidecar container", () => {
	test("is a native sidecar serving the contract's port", () => {
		expect(sidecar.restartPolicy).toBe("Always");
		expect(sidecar.image).toBe("localhost/opencode-sidecar:0.1.0");
		expect(sidecar.ports).toEqual([{ name: "http", containerPort: 3003, protocol: "TCP" }]);
		expect(envValue("PORT")).toBe("3003");
		expect(defaultOf("PORT")).toBe("3003");
		expect(dockerfile).toMatch(/^EXPOSE 3003$/m);
	});

	test("sets only variables the sidecar reads", () => {
		const known = new Set<string>(VARIABLES.map((v) => v.name));
		for (const name of env.keys()) expect(known.has(name), `${name} is not in src/config/variables.ts`).toBe(true);
		for (const name of ["POD_NAME", "POD_NAMESPACE", "POD_UID"])
			expect(env.get(name)?.valueFrom?.fieldRef?.fieldPath, name).toBe(`metadata.${name.slice(4).toLowerCase()}`);
		expect(envValue("K8S_REPORTER")).toBe("on");
	});

	test("probes paths the server serves, with the meaning each probe needs", async () => {
		const dirs = mkdtempSync(join(tmpdir(), "k8s-probes-"));
		try {
			let draining = false;
			const app = healthRoutes({
				workspaceDir: dirs,
				stateDir: dirs,
				draining: () => draining,
				engineProblem: async () => undefined,
			});
			const get = (path: string) => app.handle(new Request(`http://localhost${path}`)).then((r) => r.status);
			const probes = {
				startup: sidecar.startupProbe,
				liveness: sidecar.livenessProbe,
				readiness: sidecar.readinessProbe,
			};
			for (const [kind, probe] of Object.entries(probes)) {
				expect(probe?.httpGet?.port, kind).toBe("http");
				expect(await get(probe.httpGet.path), `${kind} ${probe.httpGet.path}`).toBe(200);
			}
			expect(sidecar.livenessProbe.httpGet.path).toBe("/healthz");
			expect(sidecar.readinessProbe.httpGet.path).toBe("/ready");
			// The startup probe waits for the engine (readiness), and keeps waiting longer than ENGINE_START_TIMEOUT.
			expect(sidecar.startupProbe.httpGet.path).toBe("/ready");
			const startupSeconds = sidecar.startupProbe.periodSeconds * sidecar.startupProbe.failureThreshold;
			expect(startupSeconds).toBeGreaterThan(2 * Number(defaultOf("ENGINE_START_TIMEOUT")));
			// Draining: readiness drops at once, liveness does not (the pod must not be restarted mid-drain).
			draining = true;
			expect(await get("/ready")).toBe(503);
			expect(await get("/healthz")).toBe(200);
		} finally {
			rmSync(dirs, { recursive: true, force: true });
		}
	});

	test("has the resources of the contract", () => {
		expect(sidecar.resources).toEqual({
			requests: { cpu: "100m", memory: "256Mi" },
			limits: { cpu: "500m", memory: "1Gi" },
		});
	});

	test("runs locked down: non-root, read-only root filesystem, no capabilities, RuntimeDefault seccomp", () => {
		expect(spec.securityContext).toMatchObject({
			runAsNonRoot: true,
			runAsUser: 10001,
			runAsGroup: 10001,
			fsGroup: 10001,
			seccompProfile: { type: "RuntimeDefault" },
		});
		for (const c of containersOf(pod))
			expect(c.securityContext, c.name).toEqual({
				allowPrivilegeEscalation: false,
				readOnlyRootFilesystem: true,
				runAsNonRoot: true,
				capabilities: { drop: ["ALL"] },
			});
		// The image's user is the pod's.
		expect(dockerfile).toMatch(/^USER 10001:10001$/m);
	});

	test("writes only to the volume (workspace and state by subPath) and /tmp", () => {
		const mounts = Object.fromEntries(sidecar.volumeMounts.map((m: K8sObject) => [m.mountPath, m]));
		expect(envValue("WORKSPACE_DIR")).toBe("/workspace");
		expect(envValue("STATE_DIR")).toBe("/var/lib/opencode-sidecar");
		expect(mounts["/workspace"]).toEqual({ name: "workspace", mountPath: "/workspace", subPath: "workspace" });
		expect(mounts["/var/lib/opencode-sidecar"]).toEqual({
			name: "workspace",
			mountPath: "/var/lib/opencode-sidecar",
			subPath: "sidecar-state",
		});
		expect(mounts["/tmp"].name).toBe("tmp");
		const volumes = Object.fromEntries(spec.volumes.map((v: K8sObject) => [v.name, v]));
		expect(volumes.workspace.persistentVolumeClaim.claimName).toBe(find("PersistentVolumeClaim").metadata.name);
		expect(volumes.tmp.emptyDir).toBeDefined();
		// The image agrees on both directories.
		expect(dockerfile).toContain("WORKSPACE_DIR=/workspace");
		expect(dockerfile).toContain("STATE_DIR=/var/lib/opencode-sidecar");
		// The init container creates the subPath directories as the pod's user before the sidecar starts.
		expect(spec.initContainers[0].name).toBe("prepare-volume");
		expect(spec.initContainers[0].command).toEqual(["mkdir", "-p", "/volume/workspace", "/volume/sidecar-state"]);
	});

	test("gets the shared secret from the Secret", () => {
		const ref = env.get("OPENCODE_SHARED_SECRET")?.valueFrom?.secretKeyRef;
		const secret = find("Secret", ref.name);
		expect(Object.keys(secret.stringData ?? secret.data)).toContain(ref.key);
	});

	test("is given a grace period that covers the shutdown drain", () => {
		const delay = Number(envValue("SHUTDOWN_DELAY") ?? defaultOf("SHUTDOWN_DELAY"));
		const timeout = Number(envValue("SHUTDOWN_TIMEOUT") ?? defaultOf("SHUTDOWN_TIMEOUT"));
		expect(delay).toBe(5);
		expect(timeout).toBeGreaterThan(delay);
		// The sidecar is stopped after the task's containers; it needs SHUTDOWN_TIMEOUT after its SIGTERM.
		expect(spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(timeout + 10);
		// Readiness notices the drain before streams close.
		const probe = sidecar.readinessProbe;
		expect(probe.periodSeconds * probe.failureThreshold).toBeLessThan(delay);
	});
});

describe("access", () => {
	test("the API token reaches the sidecar container only", () => {
		expect(spec.serviceAccountName).toBe(find("ServiceAccount").metadata.name);
		expect(spec.automountServiceAccountToken).toBe(false);
		const tokenMount = "/var/run/secrets/kubernetes.io/serviceaccount";
		for (const c of containersOf(pod)) {
			const has = (c.volumeMounts ?? []).some((m: K8sObject) => m.mountPath === tokenMount);
			expect(has, c.name).toBe(c.name === "opencode-sidecar");
		}
		const projected = spec.volumes.find((v: K8sObject) => v.name === "kube-api-access").projected.sources;
		expect(projected.map((s: K8sObject) => Object.keys(s)[0])).toEqual([
			"serviceAccountToken",
			"configMap",
			"downwardAPI",
		]);
	});

	test("the Role grants what the reporter calls and nothing else", () => {
		expect(find("Role").rules).toEqual([
			{ apiGroups: [""], resources: ["events"], verbs: ["create"] },
			{ apiGroups: [""], resources: ["pods"], resourceNames: [pod.metadata.name], verbs: ["get", "patch"] },
		]);
		const binding = find("RoleBinding");
		expect(binding.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "opencode-sidecar" });
		expect(binding.subjects).toEqual([
			{ kind: "ServiceAccount", name: spec.serviceAccountName, namespace: pod.metadata.namespace },
		]);
		expect(SUMMARY_ANNOTATION).toMatch(/^[a-z0-9-]+\/[a-z0-9-]+$/);
	});

	test("the NetworkPolicy admits port 3003 from the backend only", () => {
		const np = find("NetworkPolicy");
		for (const [k, v] of Object.entries(np.spec.podSelector.matchLabels)) expect(pod.metadata.labels[k]).toBe(v);
		expect(np.spec.policyTypes).toEqual(["Ingress"]);
		expect(np.spec.ingress).toHaveLength(1);
		const rule = np.spec.ingress[0];
		expect(rule.ports).toEqual([{ protocol: "TCP", port: 3003 }]);
		expect(rule.from).toHaveLength(1);
		// Namespace and pod selector in one peer: both must match (a task pod cannot relabel itself in).
		expect(Object.keys(rule.from[0]).sort()).toEqual(["namespaceSelector", "podSelector"]);
	});

	test("the namespace enforces the restricted Pod Security Standard", () => {
		expect(find("Namespace").metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
	});
});

describe("the Dockerfile", () => {
	test("pins its base images by exact version, Bun's matching package.json", () => {
		expect(dockerfile).toContain(`ARG BUN_IMAGE=oven/bun:${pkg.dependencies.bun}-slim\n`);
		expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:\d+\.\d+\.\d+-bookworm-slim$/m);
		expect(dockerfile).toMatch(/^FROM \$\{NODE_IMAGE\} AS deps$/m);
		expect(dockerfile).toMatch(/^FROM \$\{BUN_IMAGE\} AS runtime$/m);
	});

	test("starts Bun as PID 1 in exec form", () => {
		const entry = dockerfile.match(/^ENTRYPOINT (.+)$/m)?.[1];
		expect(JSON.parse(entry ?? "null")).toEqual(["/usr/local/bin/bun", "/opt/opencode-sidecar/src/main.ts"]);
		expect(dockerfile).not.toMatch(/^CMD /m);
	});

	test("installs what the engine would fetch at run time", () => {
		expect(dockerfile).toMatch(/apt-get install [^\n]*ripgrep/);
		expect(dockerfile).toContain('"@opencode-ai/plugin": "%s"');
		expect(dockerfile).toContain("ENGINE_SEED_DIR=/opt/opencode-sidecar/engine-seed");
		expect(dockerfile).toContain("org.opencontainers.image.title");
	});
});

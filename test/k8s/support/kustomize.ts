import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * A small kustomize for the fields k8s/kustomization.yaml uses, so the test
 * can render the base without kubectl: `resources` (local files), `namespace`,
 * `labels` (without selectors) and `images`. Anything else in the
 * kustomization is refused, so the renderer cannot silently drift from what
 * `kubectl kustomize` would do; where kubectl is installed the test also
 * compares the two renderings.
 */

// biome-ignore lint/suspicious/noExplicitAny: manifests are arbitrary YAML objects.
export type K8sObject = Record<string, any>;

const SUPPORTED = new Set(["apiVersion", "kind", "namespace", "labels", "resources", "images"]);

/** Kinds that live outside namespaces (of those a kustomization might hold). */
const CLUSTER_SCOPED = new Set([
	"Namespace",
	"ClusterRole",
	"ClusterRoleBinding",
	"PersistentVolume",
	"StorageClass",
	"CustomResourceDefinition",
	"PriorityClass",
	"ValidatingAdmissionPolicy",
	"ValidatingAdmissionPolicyBinding",
]);

interface ImageRule {
	name: string;
	newName?: string;
	newTag?: string;
	digest?: string;
}

export function parseYamlDocuments(text: string): K8sObject[] {
	const parsed = Bun.YAML.parse(text) as unknown;
	const docs = Array.isArray(parsed) && text.includes("\n---") ? parsed : [parsed];
	return docs.filter((d): d is K8sObject => d !== null && typeof d === "object");
}

export function renderKustomization(dir: string): K8sObject[] {
	const k = parseYamlDocuments(readFileSync(join(dir, "kustomization.yaml"), "utf8"))[0];
	if (k?.kind !== "Kustomization") throw new Error("kustomization.yaml is not a Kustomization");
	for (const key of Object.keys(k))
		if (!SUPPORTED.has(key)) throw new Error(`kustomization field "${key}" is not supported by this renderer`);

	const objects: K8sObject[] = [];
	for (const resource of k.resources ?? []) {
		if (typeof resource !== "string" || resource.includes("://") || !/\.ya?ml$/.test(resource))
			throw new Error(`resource "${resource}": only local YAML files are supported`);
		objects.push(...parseYamlDocuments(readFileSync(join(dir, resource), "utf8")));
	}

	for (const o of objects) {
		if (k.namespace) setNamespace(o, k.namespace);
		for (const rule of k.labels ?? []) {
			if (rule.includeSelectors || rule.includeTemplates)
				throw new Error("labels with includeSelectors/includeTemplates are not supported by this renderer");
			o.metadata.labels = { ...(o.metadata.labels ?? {}), ...rule.pairs };
		}
		for (const rule of (k.images ?? []) as ImageRule[]) for (const c of containersOf(o)) setImage(c, rule);
	}
	return objects;
}

function setNamespace(o: K8sObject, namespace: string): void {
	if (o.kind === "Namespace") {
		// kustomize renames the Namespace object itself to the kustomization's namespace.
		o.metadata.name = namespace;
		return;
	}
	if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = namespace;
	// kustomize's default (setRoleBindingSubjects: defaultOnly): ServiceAccount subjects in "default" move along.
	if (o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding")
		for (const s of o.subjects ?? [])
			if (s.kind === "ServiceAccount" && s.namespace === "default") s.namespace = namespace;
}

/** Containers of a Pod, or of the pod template of a workload. */
export function containersOf(o: K8sObject): K8sObject[] {
	const spec = o.kind === "Pod" ? o.spec : (o.spec?.jobTemplate?.spec?.template?.spec ?? o.spec?.template?.spec);
	if (!spec) return [];
	return [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
}

function setImage(container: K8sObject, rule: ImageRule): void {
	const image = String(container.image);
	const at = image.indexOf("@");
	const beforeDigest = at === -1 ? image : image.slice(0, at);
	const colon = beforeDigest.lastIndexOf(":");
	const name = colon > beforeDigest.lastIndexOf("/") ? beforeDigest.slice(0, colon) : beforeDigest;
	if (name !== rule.name) return;
	const tag = colon > beforeDigest.lastIndexOf("/") ? beforeDigest.slice(colon) : "";
	const digest = at === -1 ? "" : image.slice(at);
	container.image =
		(rule.newName ?? name) + (rule.digest ? `@${rule.digest}` : rule.newTag ? `:${rule.newTag}` : `${tag}${digest}`);
}

/** `kind/namespace/name`, to compare renderings regardless of order. */
export function keyOf(o: K8sObject): string {
	return `${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`;
}

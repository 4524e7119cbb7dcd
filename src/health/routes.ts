import { Elysia, t } from "elysia";
import { PUBLIC } from "../http/openapi";
import { publicErrorResponses } from "../http/responses";
import { type ReadinessDeps, readinessProblem } from "./readiness";

const Ok = t.Object({ status: t.Literal("ok") });
const Warnings = t.Optional(
	t.Array(t.String(), {
		description: "Problems that do not make the pod unready, e.g. the process could not be made non-dumpable",
	}),
);
const Ready = t.Object({ status: t.Literal("ready"), warnings: Warnings });
const NotReady = t.Object({
	status: t.Literal("not ready"),
	error: t.String(),
	warnings: Warnings,
});

/** Liveness (cheap: never touches the engine or disk) and readiness probes. */
export function healthRoutes(deps: ReadinessDeps) {
	const live = () => ({ status: "ok" as const });
	const detail = { tags: ["probes"], ...PUBLIC };
	return new Elysia({ name: "health" })
		.get("/healthz", live, {
			response: { 200: Ok, ...publicErrorResponses() },
			detail: {
				...detail,
				operationId: "liveness",
				summary: "Liveness probe",
				description: "Answers while the process serves HTTP; touches neither the engine nor the disk.",
			},
		})
		.get("/health", live, {
			response: { 200: Ok, ...publicErrorResponses() },
			detail: {
				...detail,
				operationId: "livenessAlias",
				summary: "Alias of /healthz",
				description: "The same as /healthz.",
			},
		})
		.get(
			"/ready",
			async ({ set }) => {
				const problem = await readinessProblem(deps);
				const list = deps.warnings?.() ?? [];
				const warnings = list.length > 0 ? { warnings: [...list] } : {};
				if (problem === undefined) return { status: "ready" as const, ...warnings };
				set.status = 503;
				return { status: "not ready" as const, error: problem, ...warnings };
			},
			{
				response: { 200: Ready, 503: NotReady, ...publicErrorResponses() },
				detail: {
					...detail,
					operationId: "readiness",
					summary: "Readiness probe: workspace and state directory usable, engine answering, not draining",
					description: "200 when the sidecar can take sessions; 503 with the reason otherwise.",
				},
			},
		);
}

import type { EventData } from "../../events/catalogue";
import { api } from "./api";
import { h } from "./dom";
import { describeCall, idRanges, secondsLeft } from "./format";
import type { StreamEvent } from "./stream";

/** What a session view needs to know about events as they are shown. */
export interface EventSink {
	onStatus(data: EventData<"status">): void;
	onTerminal(): void;
}

const json = (v: unknown) => JSON.stringify(v, null, 2);

/**
 * Renders a session's events into one element, each as what it means: the
 * assistant's text as running prose, tool calls folded with their results,
 * live tool output as a terminal block, decisions, errors and the end. Every
 * rendered event is marked with its id: an element of its own carries `data-id`;
 * streamed text (prose, a terminal) is appended as text, one node per batch
 * (10,000 token events as elements take a second to lay out), and its block
 * lists the ids it holds in `data-ids` ("1-5,9"). Tests check every id exactly once.
 */
export class EventView {
	readonly root = h("div", { class: "events", id: "events" });
	#prose: HTMLElement | undefined;
	#proseSource = "";
	readonly #calls = new Map<string, HTMLDetailsElement>();
	readonly #terminals = new Map<string, HTMLElement>();
	/** The ids each streamed-text block holds, written to its `data-ids` once per `add`. */
	readonly #textIds = new Map<HTMLElement, number[]>();
	readonly #pending = new Map<HTMLElement, (string | Node)[]>();
	/** Questions still open, by id → what closes one (buttons off, countdown stopped, `text` shown). */
	readonly #openQuestions = new Map<string, (text: string) => void>();

	constructor(
		private readonly sessionId: string,
		private readonly sink: EventSink,
	) {}

	get count(): number {
		return this.root.querySelectorAll("[data-id]").length;
	}

	add(events: readonly StreamEvent[]): void {
		for (const e of events) this.#one(e);
		// One text node per block per batch: a 10,000-event replay becomes a handful of nodes to lay out.
		for (const [el, parts] of this.#pending) {
			let run = "";
			for (const part of parts) {
				if (typeof part === "string") run += part;
				else {
					if (run) el.append(run);
					run = "";
					el.append(part);
				}
			}
			if (run) el.append(run);
			el.setAttribute("data-ids", idRanges(this.#textIds.get(el) ?? []));
		}
		this.#pending.clear();
	}

	/** Streamed text for block `el` (appended at the end of `add`), its id recorded for `data-ids`. */
	#text(el: HTMLElement, id: number, part: string | Node): void {
		let parts = this.#pending.get(el);
		if (!parts) {
			parts = [];
			this.#pending.set(el, parts);
		}
		parts.push(part);
		let ids = this.#textIds.get(el);
		if (!ids) {
			ids = [];
			this.#textIds.set(el, ids);
		}
		ids.push(id);
	}

	dispose(): void {
		this.#closeQuestions("");
	}

	/** A new block in the flow; `id` undefined for a container whose events are its children. */
	#block(e: { id?: number; type: string }, cls: string, ...children: (Node | string)[]): HTMLElement {
		this.#prose = undefined;
		const el = h("div", { class: `ev ${cls}`, "data-id": e.id, "data-type": e.id ? e.type : undefined }, ...children);
		this.root.append(el);
		return el;
	}

	#one(e: StreamEvent): void {
		switch (e.type) {
			case "output":
				this.#output(e, e.data as EventData<"output">);
				return;
			case "tool_call":
				this.#toolCall(e, e.data as EventData<"tool_call">);
				return;
			case "tool_result":
				this.#toolResult(e, e.data as EventData<"tool_result">);
				return;
			case "status": {
				const d = e.data as EventData<"status">;
				this.sink.onStatus(d);
				const extra = [d.progress !== undefined ? `${d.progress}%` : "", d.message ?? ""].filter(Boolean).join(" · ");
				this.#block(e, `ev-status ${d.status}`, h("b", {}, d.status), extra ? ` ${extra}` : "");
				return;
			}
			case "error": {
				const d = e.data as EventData<"error">;
				const retry = d.retry_after !== undefined ? ` (retry after ${d.retry_after} s)` : "";
				this.#block(
					e,
					d.fatal ? "ev-error fatal" : "ev-error",
					h("b", {}, `error ${d.code}`),
					`${d.fatal ? " (fatal)" : ""}: ${d.error}${retry}`,
				);
				if (d.fatal) this.#ended();
				return;
			}
			case "complete": {
				const d = e.data as EventData<"complete">;
				const files = d.files_modified.length
					? h("ul", { class: "files" }, ...d.files_modified.map((f) => h("li", {}, f)))
					: h("p", { class: "muted" }, "no files modified");
				const tokens = d.usage ? `${d.usage.input_tokens} in / ${d.usage.output_tokens} out tokens` : "";
				this.#block(e, "ev-complete", h("b", {}, "complete"), ` ${tokens}`, files);
				this.#ended();
				return;
			}
			case "question":
				this.#question(e, e.data as EventData<"question">);
				return;
			case "permission": {
				const d = e.data as EventData<"permission">;
				this.#block(
					e,
					`ev-permission ${d.decision}`,
					h("b", {}, `permission ${d.permission}`),
					` ${d.patterns.join(", ")} → ${d.decision}`,
					d.reason ? h("span", { class: "muted" }, ` (${d.reason})`) : "",
				);
				return;
			}
			default:
				this.#block(e, "ev-other", h("b", {}, e.type), " ", h("code", {}, JSON.stringify(e.data)));
		}
	}

	#output(e: StreamEvent, d: EventData<"output">): void {
		const source = d.source ?? "assistant";
		if (source === "tool" && d.call_id) {
			let term = this.#terminals.get(d.call_id);
			if (!term) {
				term = h("pre", { class: "term" });
				this.#terminals.set(d.call_id, term);
				const call = this.#calls.get(d.call_id);
				// A command's output stays in view as it runs, under its call.
				if (call) {
					call.append(term);
					call.open = true;
				} else this.#block({ type: "output" }, "ev-term").append(term);
			}
			this.#text(
				term,
				e.id,
				d.type === "stderr" ? h("span", { class: "stderr" }, d.text) : document.createTextNode(d.text),
			);
			return;
		}
		if (source === "assistant" || source === "reasoning") {
			if (!this.#prose || this.#proseSource !== source) {
				this.#prose = this.#block({ type: "output" }, source === "assistant" ? "ev-prose" : "ev-reasoning");
				this.#proseSource = source;
			}
			this.#text(this.#prose, e.id, d.text);
			return;
		}
		this.#block(e, d.type === "stderr" ? "ev-stderr" : "ev-note", d.text);
	}

	#toolCall(e: StreamEvent, d: EventData<"tool_call">): void {
		const args = (d.args ?? {}) as Record<string, unknown>;
		const details = h(
			"details",
			{ class: "ev ev-tool running", "data-id": e.id, "data-type": e.type, "data-call": d.call_id },
			h("summary", {}, h("b", {}, d.tool), " ", h("code", {}, describeCall(d.tool, args))),
			h("pre", { class: "args" }, json(args)),
		);
		this.#prose = undefined;
		this.root.append(details);
		if (d.call_id) this.#calls.set(d.call_id, details);
	}

	#toolResult(e: StreamEvent, d: EventData<"tool_result">): void {
		const r = d.result as { output?: unknown; title?: unknown; error?: unknown };
		const text = d.is_error ? String(r.error ?? json(r)) : typeof r.output === "string" ? r.output : json(r.output);
		const el = h(
			"div",
			{ class: d.is_error ? "result error" : "result", "data-id": e.id, "data-type": e.type },
			h("div", { class: "muted" }, d.is_error ? "failed" : `result${r.title ? `: ${String(r.title)}` : ""}`),
			h("pre", {}, text),
		);
		const call = d.call_id ? this.#calls.get(d.call_id) : undefined;
		if (d.tool === "question") this.#closeQuestions("answered (the agent's result is below)");
		if (call) {
			call.append(el);
			call.classList.remove("running");
			if (d.is_error) call.classList.add("failed");
		} else this.#block({ type: "tool_result" }, "ev-tool").append(el);
	}

	#ended(): void {
		this.#closeQuestions("closed: the run ended");
		this.sink.onTerminal();
	}

	/** A late joiner replays questions long answered: the question tool's result or the run's end closes them. */
	#closeQuestions(text: string): void {
		for (const close of this.#openQuestions.values()) close(text);
		this.#openQuestions.clear();
	}

	#question(e: StreamEvent, d: EventData<"question">): void {
		const chosen: string[][] = d.questions.map(() => []);
		const state = h("span", { class: "muted" });
		const buttons: HTMLButtonElement[] = [];
		let open = true;
		const finish = (text: string) => {
			for (const b of buttons) b.disabled = true;
			clearInterval(timer);
			this.#openQuestions.delete(d.question_id);
			// The answer this page sent is the better message: keep it over a later "closed".
			if (open && text) state.textContent = text;
			open = false;
		};
		const send = async () => {
			try {
				await api(`/sessions/${encodeURIComponent(this.sessionId)}/questions/${encodeURIComponent(d.question_id)}`, {
					method: "POST",
					body: { answers: chosen },
				});
				open = true;
				finish(`answered: ${chosen.map((c) => c.join(", ")).join(" / ")}`);
			} catch (error) {
				finish(`not answered: ${error instanceof Error ? error.message : String(error)}`);
			}
		};
		const groups: HTMLElement[] = d.questions.map((q, i) => {
			const row = h("div", { class: "options" });
			for (const o of q.options) {
				const b = h(
					"button",
					{
						type: "button",
						title: o.description ?? "",
						onclick: () => {
							const picked = chosen[i] as string[];
							if (q.multiple) {
								const at = picked.indexOf(o.label);
								if (at >= 0) picked.splice(at, 1);
								else picked.push(o.label);
								b.classList.toggle("picked", at < 0);
							} else {
								picked.splice(0, picked.length, o.label);
								b.classList.add("picked");
							}
							if (chosen.every((c) => c.length > 0) && d.questions.every((x) => !x.multiple)) void send();
						},
					},
					o.label,
				);
				buttons.push(b);
				row.append(b);
			}
			return h("div", { class: "question" }, h("p", {}, q.header ? h("b", {}, `${q.header}: `) : "", q.question), row);
		});
		if (d.questions.some((q) => q.multiple)) {
			const submit = h("button", { type: "button", class: "primary", onclick: () => void send() }, "Send answer");
			buttons.push(submit);
			groups.push(submit);
		}
		const defaults = d.default.map((c) => c.join(", ")).join(" / ");
		const tick = () => {
			const left = secondsLeft(d.expires_at, Date.now());
			if (left === 0) finish(`time is up: the default applies (${defaults})`);
			else state.textContent = `${left} s left, then the default applies (${defaults})`;
		};
		const timer = setInterval(tick, 1000);
		this.#openQuestions.set(d.question_id, finish);
		this.#block(e, "ev-question", h("b", {}, "question"), ...groups, state);
		tick();
	}
}

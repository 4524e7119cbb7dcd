import type { SessionStatus } from "../../sessions/schemas";
import { ApiError, api, NeedsToken } from "./api";
import { clear, h } from "./dom";
import { EventView } from "./events";
import { shortTime } from "./format";
import { progressBar, statusBadge } from "./list";
import { type FileChange, lazyPanel, type Message, renderFile, renderMessage } from "./panels";
import { SessionStream, type StreamEvent, type StreamState } from "./stream";

const ACTIVE = new Set(["pending", "running"]);
/** Header fields (ended_at, usage…) that no event carries; also notices a follow-up run the stream has not seen. */
const STATUS_REFRESH_MS = 2000;

const STATE_TEXT: Record<StreamState, string> = {
	connecting: "connecting…",
	live: "live",
	reconnecting: "connection lost, reconnecting…",
	idle: "run ended",
	unauthorized: "401: token needed",
	failed: "stream failed",
};

/** One session, live: header, actions, the event stream, the diff and the conversation. */
export function renderSession(main: HTMLElement, id: string, onError: (e: unknown) => void): () => void {
	const path = `/sessions/${encodeURIComponent(id)}`;
	const header = h("div", { class: "session-head", id: "session-head" });
	const connection = h("span", { class: "conn", id: "connection" }, "connecting…");
	const notice = h("div", { class: "notice", id: "notice", role: "status" });
	let status: SessionStatus | undefined;
	let timer: ReturnType<typeof setTimeout> | undefined;
	let stopped = false;

	const cancelButton = h(
		"button",
		{
			type: "button",
			id: "cancel",
			class: "danger",
			onclick: async () => {
				cancelButton.disabled = true;
				try {
					const r = await api<{ status: string }>(path, { method: "DELETE" });
					notice.textContent = `cancel: session is ${r.status}`;
				} catch (error) {
					handle(error);
				}
				void refreshStatus();
			},
		},
		"Cancel",
	);

	const drawHeader = () => {
		if (!status) return;
		const s = status;
		cancelButton.disabled = !ACTIVE.has(s.status);
		clear(
			header,
			h("h2", {}, "Session ", h("code", {}, s.session_id)),
			h(
				"dl",
				{},
				h("dt", {}, "status"),
				h("dd", { id: "status" }, statusBadge(s.status), s.error ? ` ${s.error.code}: ${s.error.message}` : ""),
				h("dt", {}, "provider / model"),
				h("dd", {}, `${s.provider} / ${s.model}`),
				h("dt", {}, "created"),
				h("dd", {}, shortTime(s.created_at)),
				h("dt", {}, "ended"),
				h("dd", {}, shortTime(s.ended_at)),
				h("dt", {}, "progress"),
				h("dd", { id: "progress" }, progressBar(s.progress)),
				h("dt", {}, "events"),
				h("dd", {}, String(s.last_event_id), " · ", connection),
				...(s.files_modified?.length ? [h("dt", {}, "files"), h("dd", {}, s.files_modified.join(", "))] : []),
				...(s.usage
					? [h("dt", {}, "tokens"), h("dd", {}, `${s.usage.input_tokens} in / ${s.usage.output_tokens} out`)]
					: []),
			),
			h("div", { class: "actions" }, cancelButton),
		);
	};

	const handle = (error: unknown) => {
		if (error instanceof NeedsToken) onError(error);
		else notice.textContent = error instanceof Error ? error.message : String(error);
	};

	const view = new EventView(id, {
		onStatus: (d) => {
			if (!status) return;
			status = { ...status, status: d.status, ...(d.progress !== undefined ? { progress: d.progress } : {}) };
			drawHeader();
		},
		onTerminal: () => {
			void refreshStatus();
			diff.refresh();
		},
	});
	// Events are drawn once per animation frame, however many network reads brought them: a long replay
	// then costs one layout per frame, not one per read.
	let pending: StreamEvent[] = [];
	const draw = () => {
		const events = pending;
		pending = [];
		const follow = nearBottom();
		view.add(events);
		if (follow) window.scrollTo(0, document.body.scrollHeight);
	};
	const stream = new SessionStream(id, {
		onEvents: (events) => {
			if (pending.length === 0) requestAnimationFrame(draw);
			for (const e of events) pending.push(e);
		},
		onState: (state, detail) => {
			connection.textContent = detail ? `${STATE_TEXT[state]}: ${detail}` : STATE_TEXT[state];
			connection.className = `conn ${state}`;
			if (state === "unauthorized") onError(new NeedsToken(true));
		},
	});
	const nearBottom = () => window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;

	const refreshStatus = async () => {
		clearTimeout(timer);
		try {
			status = await api<SessionStatus>(`${path}/status`);
			drawHeader();
			// A follow-up started a new run after the stream closed: pick it up where the page left off.
			if (ACTIVE.has(status.status) && !stream.running) void stream.follow();
		} catch (error) {
			if (error instanceof ApiError && error.status === 404) {
				clear(main, h("p", { class: "error" }, `404: no session ${id}`), h("a", { href: "/ui" }, "← sessions"));
				stopped = true;
				return;
			}
			handle(error);
			if (error instanceof NeedsToken) return;
		}
		if (!stopped) timer = setTimeout(refreshStatus, STATUS_REFRESH_MS);
	};

	const diff = lazyPanel(
		"Diff",
		"diff",
		async () => {
			const { files } = await api<{ files: FileChange[] }>(`${path}/diff`);
			return files.length === 0 ? [h("p", { class: "muted" }, "no changes")] : files.map(renderFile);
		},
		handle,
	);
	const conversation = lazyPanel(
		"Conversation",
		"conversation",
		async () => {
			const { messages } = await api<{ messages: Message[] }>(`${path}/messages`);
			return messages.map(renderMessage);
		},
		handle,
	);

	const prompt = h("textarea", { id: "follow-up", rows: 2, placeholder: "Follow-up message", required: true });
	const form = h(
		"form",
		{
			class: "follow-up",
			onsubmit: async (e: Event) => {
				e.preventDefault();
				try {
					const r = await api<{ status: string; queued: number }>(`${path}/messages`, {
						method: "POST",
						body: { prompt: prompt.value },
					});
					prompt.value = "";
					notice.textContent =
						r.queued > 0 ? `message queued (${r.queued} waiting)` : "message sent: a new run started";
					void stream.follow();
				} catch (error) {
					handle(error);
				}
			},
		},
		prompt,
		h("button", { type: "submit" }, "Send"),
	);

	clear(
		main,
		h("p", {}, h("a", { href: "/ui" }, "← sessions")),
		header,
		notice,
		h("h3", {}, "Events"),
		view.root,
		form,
		diff.box,
		conversation.box,
	);
	void refreshStatus();
	// Late joiners get the whole history: the first connection starts at event 1.
	void stream.follow();
	return () => {
		stopped = true;
		clearTimeout(timer);
		stream.stop();
		view.dispose();
	};
}

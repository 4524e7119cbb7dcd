export { startScriptedLlm } from "./server";
export type { ApiFormat, Hold, RecordedRequest, ScriptedLlm, Turn } from "./types";

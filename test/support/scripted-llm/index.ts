export { startScriptedLlm } from "./server";
export type { ApiFormat, RecordedRequest, ScriptedLlm, Turn } from "./types";

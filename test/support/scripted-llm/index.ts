export { startScriptedLlm } from "./server";
export { questionCall } from "./turns";
export type { ApiFormat, Hold, RecordedRequest, ScriptedLlm, Turn } from "./types";

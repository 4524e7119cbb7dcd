import type { EngineAdapter } from "./adapter";
import type { EngineGeneration } from "./generation";
import { v1Adapter } from "./v1/adapter";
import { v2Adapter } from "./v2/adapter";

/** The adapter of each supported generation (generation.ts decides which one a binary is). */
export const ADAPTERS: Readonly<Record<EngineGeneration, EngineAdapter>> = { "1": v1Adapter, "2": v2Adapter };

export const adapterFor = (generation: EngineGeneration): EngineAdapter => ADAPTERS[generation];

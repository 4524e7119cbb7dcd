// Loaded before every test file (bunfig.toml): responses of sidecars are checked against the OpenAPI document.
import { installFetchRecorder } from "./conformance";

await installFetchRecorder();

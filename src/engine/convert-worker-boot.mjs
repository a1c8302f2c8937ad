// Worker entry when the engine runs from its TypeScript sources: worker threads do not inherit the main thread's
// tsx registration, so register it here, then load the worker itself.
import { URL } from 'node:url';
import { register } from 'tsx/esm/api';

register();
const worker = await import(new URL('./convert-worker.ts', import.meta.url).href);
export default worker.default;

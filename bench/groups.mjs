import { inProcessGroup } from './groups/in-process.mjs';

/** Every group `npm run bench` knows, in the order it runs them. */
export const GROUPS = [inProcessGroup];

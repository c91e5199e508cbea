import { createRequire } from 'node:module';
import type * as Usearch from 'usearch';

/**
 * usearch's native module. Its ES-module build cannot find its own binary (it walks up from a
 * wrong directory); its CommonJS build can.
 */
export const usearch = createRequire(import.meta.url)('usearch') as typeof Usearch;
export type { Usearch };

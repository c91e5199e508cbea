import { Temporal } from '@js-temporal/polyfill';
import { ProbityError } from '../errors.js';

/**
 * Every time a client gives is parsed here, at the edge, as an RFC 3339 instant with its offset
 * (`Z` or `±hh:mm`), and stored in one canonical UTC form (`toISOString()`, millisecond
 * precision). A time without an offset, or one that cannot be parsed, is refused naming the field:
 * "10:00" means nothing until one knows where.
 */
export function parseInstant(field: string, value: string): string {
  let instant: Temporal.Instant;
  try {
    instant = Temporal.Instant.from(value);
  } catch {
    throw new ProbityError('invalid_request', `${field}: "${value.slice(0, 64)}" is not an RFC 3339 time with an offset (for example 2026-12-01T09:30:00Z or 2026-12-01T10:30:00+01:00)`);
  }
  return new Date(instant.epochMilliseconds).toISOString();
}

/** The same, for an optional field. */
export function parseOptionalInstant(field: string, value: string | undefined): string | undefined {
  return value === undefined ? undefined : parseInstant(field, value);
}

/** Milliseconds since the epoch of a stored time; stored times are compared as instants, never as text. */
export function instantMs(stored: string): number {
  // The canonical form is exactly what Date.parse reads without guessing; anything else goes through Temporal.
  return CANONICAL.test(stored) ? Date.parse(stored) : Temporal.Instant.from(stored).epochMilliseconds;
}

const CANONICAL = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

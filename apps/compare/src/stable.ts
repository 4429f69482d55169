import { hashBytes } from '@tsvae/core/node';

/** JSON with object keys sorted at every level: equal values give equal text. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/** The first 16 hex digits of the SHA-256 of a text. */
export function shortHash(text: string): string {
  return hashBytes(text).slice(0, 16);
}

import { TcError } from '../util/errors.ts';
import type { Db } from './db.ts';

/**
 * Seals the PHI kept at rest outside the journal: the review queue's raw HL7 and the recent ADT identities (raw HL7
 * and demographics). AES-256-GCM with the journal's key file (src/journal/keys.ts implements this); the aad binds
 * the bytes to their table, column and message, so sealed bytes copied into another row do not open.
 */
export interface Sealer {
  readonly keyId: string;
  encrypt(plain: Buffer, aad: string): Buffer;
  decrypt(sealed: Buffer, aad: string): Buffer;
}

export function sealAad(table: 'review_item' | 'match_recent_adt', column: string, messageId: string): string {
  return `${table}.${column}\u0000${messageId}`;
}

/** The plain bytes of a column sealed with `keyId` (NULL: a row written before migration 064, still plaintext). */
export function unseal(seal: Sealer, keyId: string | null, bytes: Buffer | Uint8Array, aad: string): Buffer {
  const b = Buffer.from(bytes);
  if (keyId === null) return b;
  if (keyId !== seal.keyId)
    throw new TcError(
      'TC_JOURNAL_KEY',
      `stored PHI was sealed with key ${keyId}, not with this key file's key ${seal.keyId}`,
      'permanent',
    );
  return seal.decrypt(b, aad);
}

const LEGACY_BATCH = 500;

/**
 * Seals the rows written before migration 064 (key_id NULL), a batch per transaction; run at the engine's start.
 * Returns how many rows it sealed. Idempotent: a row is sealed once, whoever gets to it first.
 */
export async function sealLegacyRows(db: Db, seal: Sealer): Promise<number> {
  let sealed = 0;
  for (;;) {
    const n = await db.tx(async (q) => {
      const reviews = await q.query<{ message_id: string; raw_message: Buffer | Uint8Array }>(
        `SELECT message_id, raw_message FROM review_item WHERE key_id IS NULL LIMIT ${LEGACY_BATCH} FOR UPDATE`,
      );
      for (const r of reviews.rows)
        await q.query(`UPDATE review_item SET raw_message = $2, key_id = $3 WHERE message_id = $1`, [
          r.message_id,
          seal.encrypt(Buffer.from(r.raw_message), sealAad('review_item', 'raw_message', r.message_id)),
          seal.keyId,
        ]);
      const recent = await q.query<{
        message_id: string;
        input: unknown;
        raw_message: Buffer | Uint8Array | null;
      }>(
        `SELECT message_id, input, raw_message FROM match_recent_adt WHERE key_id IS NULL LIMIT ${LEGACY_BATCH}
         FOR UPDATE`,
      );
      for (const r of recent.rows) {
        const input = typeof r.input === 'string' ? r.input : JSON.stringify(r.input);
        await q.query(
          `UPDATE match_recent_adt SET input = NULL, input_sealed = $2, raw_message = $3, key_id = $4
           WHERE message_id = $1`,
          [
            r.message_id,
            seal.encrypt(Buffer.from(input), sealAad('match_recent_adt', 'input', r.message_id)),
            r.raw_message
              ? seal.encrypt(Buffer.from(r.raw_message), sealAad('match_recent_adt', 'raw_message', r.message_id))
              : null,
            seal.keyId,
          ],
        );
      }
      return reviews.rows.length + recent.rows.length;
    });
    sealed += n;
    if (n === 0) return sealed;
  }
}

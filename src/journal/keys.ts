import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
  randomFillSync,
} from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { TcError } from '../util/errors.ts';

/** Search-key kinds: MRN (any PID-3 identifier), DCN, visit number, participant, site. */
export type KeyKind = 'm' | 'd' | 'v' | 'p' | 's';

/**
 * The journal's secrets, derived from one key file (32+ random bytes, created 0600 when missing): an AES-256-GCM
 * key for raw messages and an HMAC-SHA256 key for search keys. keyId names the file's key without revealing it.
 */
export interface JournalKeys {
  readonly keyId: string;
  encrypt(plain: Buffer, aad: string): Buffer;
  decrypt(sealed: Buffer, aad: string): Buffer;
  /** Keyed hash of a search value (normalised: trimmed, upper case), so equal values meet and the index is not PHI. */
  hash(kind: KeyKind, value: string): Buffer;
}

const VERSION = 1;
const IV_BYTES = 12;

// Random IVs drawn from a pool refilled 1,024 at a time: one getrandom per IV cost the engine ~15 µs each here (a
// few per message, 2% of its CPU in bench:pipeline). Each IV is still 96 random bits used once.
const ivPool = Buffer.alloc(IV_BYTES * 1024);
let ivNext = ivPool.length;
function freshIv(): Buffer {
  if (ivNext >= ivPool.length) {
    randomFillSync(ivPool);
    ivNext = 0;
  }
  const iv = Buffer.from(ivPool.subarray(ivNext, ivNext + IV_BYTES));
  ivNext += IV_BYTES;
  return iv;
}

/** Bytes of a search key's HMAC kept in journal_key. */
export const KEY_HASH_BYTES = 32;

export function journalKeysFrom(secret: Buffer): JournalKeys {
  if (secret.length < 32)
    throw new TcError('TC_JOURNAL_KEY', 'journal key file holds fewer than 32 bytes', 'permanent');
  const aes = Buffer.from(hkdfSync('sha256', secret, '', 'tc-alerts journal raw aes-256-gcm', 32));
  const mac = Buffer.from(hkdfSync('sha256', secret, '', 'tc-alerts journal search hmac', 32));
  const keyId = createHash('sha256').update(aes).digest('hex').slice(0, 12);
  return {
    keyId,
    encrypt(plain, aad) {
      const iv = freshIv();
      const c = createCipheriv('aes-256-gcm', aes, iv);
      c.setAAD(Buffer.from(aad));
      const body = Buffer.concat([c.update(plain), c.final()]);
      return Buffer.concat([Buffer.from([VERSION]), iv, c.getAuthTag(), body]);
    },
    decrypt(sealed, aad) {
      if (sealed[0] !== VERSION) throw new TcError('TC_JOURNAL_KEY', 'unknown journal ciphertext version', 'permanent');
      const d = createDecipheriv('aes-256-gcm', aes, sealed.subarray(1, 13));
      d.setAAD(Buffer.from(aad));
      d.setAuthTag(sealed.subarray(13, 29));
      try {
        return Buffer.concat([d.update(sealed.subarray(29)), d.final()]);
      } catch {
        throw new TcError('TC_JOURNAL_KEY', 'journal raw message does not decrypt with this key file', 'permanent');
      }
    },
    hash(kind, value) {
      return createHmac('sha256', mac).update(`${kind}\u0000${value.trim().toUpperCase()}`).digest();
    },
  };
}

/** Reads the key file; creates it (random, mode 0600) when it does not exist yet. Safe when several start at once. */
export function loadJournalKeys(file: string): JournalKeys {
  let secret: Buffer;
  try {
    secret = readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new TcError('TC_JOURNAL_KEY', `journal key file ${file} cannot be read`, 'permanent');
    mkdirSync(dirname(file), { recursive: true });
    // Written aside, then linked into place: a concurrent reader sees no file or the whole key, never half of it.
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    writeFileSync(tmp, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
    chmodSync(tmp, 0o600);
    try {
      linkSync(tmp, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      unlinkSync(tmp);
    }
    secret = readFileSync(file);
  }
  const text = secret.toString('utf8').trim();
  const decoded = /^[A-Za-z0-9+/=]{43,}$/.test(text) ? Buffer.from(text, 'base64') : secret;
  return journalKeysFrom(decoded);
}

/**
 * The keys of a data folder: the journal's, and the seal of PHI kept for review and late enrollment
 * (src/store/seal.ts). TC_JOURNAL_KEY_FILE, else <dataDir>/journal.key, created when missing.
 */
export function dataDirKeys(dataDir: string, env: NodeJS.ProcessEnv = process.env): JournalKeys {
  return loadJournalKeys(journalKeyFile(dataDir, env));
}

/** TC_JOURNAL_KEY_FILE, else <dataDir>/journal.key. */
export function journalKeyFile(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.TC_JOURNAL_KEY_FILE || `${dataDir}/journal.key`;
}

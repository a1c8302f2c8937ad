import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Queryable } from '../store/db.ts';
import { TcError } from '../util/errors.ts';

export const ROLES = ['viewer', 'operator', 'reviewer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** What each role may do. A viewer sees no PHI (raw messages, names, searches by MRN, DCN or visit number). */
export const CAN = {
  phi: (r: Role) => r !== 'viewer',
  act: (r: Role) => r === 'operator' || r === 'admin',
  review: (r: Role) => r === 'reviewer' || r === 'admin',
  admin: (r: Role) => r === 'admin',
};

export interface User {
  username: string;
  role: Role;
}

export interface Session extends User {
  csrf: string;
  expiresAt: string;
}

const SCRYPT: ScryptOptions = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const SESSION_MS = 8 * 3_600_000;

function scryptAsync(password: string, salt: Buffer, o: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, 32, o, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** scrypt$N$r$p$salt$hash (node:crypto scrypt, 16-byte random salt). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [alg, n, r, p, salt, hash] = stored.split('$');
  if (alg !== 'scrypt' || !salt || !hash) return false;
  const want = Buffer.from(hash, 'base64');
  const got = await scryptAsync(password, Buffer.from(salt, 'base64'), {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: SCRYPT.maxmem!,
  });
  return got.length === want.length && timingSafeEqual(got, want);
}

export function validUsername(name: string): boolean {
  return /^[a-z0-9][a-z0-9._-]{1,63}$/i.test(name);
}

/** Creates or replaces a local user (the password is stored as a scrypt hash only). */
export async function putUser(db: Queryable, username: string, password: string, role: Role): Promise<void> {
  if (!validUsername(username))
    throw new TcError('invalid-input', 'username: 2–64 letters, digits, dot, dash or underscore', 'permanent');
  if (password.length < 10) throw new TcError('invalid-input', 'password: at least 10 characters', 'permanent');
  if (!ROLES.includes(role)) throw new TcError('invalid-input', `role must be one of ${ROLES.join(', ')}`, 'permanent');
  await db.query(
    `INSERT INTO console_user (username, password_hash, role) VALUES ($1, $2, $3)
     ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role, disabled = false`,
    [username, await hashPassword(password), role],
  );
  await db.query('DELETE FROM console_session WHERE username = $1', [username]);
}

export async function listUsers(db: Queryable): Promise<(User & { disabled: boolean; createdAt: string })[]> {
  const r = await db.query<{ username: string; role: Role; disabled: boolean; created_at: Date }>(
    'SELECT username, role, disabled, created_at FROM console_user ORDER BY username',
  );
  return r.rows.map((u) => ({
    username: u.username,
    role: u.role,
    disabled: u.disabled,
    createdAt: new Date(u.created_at).toISOString(),
  }));
}

export async function setDisabled(db: Queryable, username: string, disabled: boolean): Promise<void> {
  await db.query('UPDATE console_user SET disabled = $2 WHERE username = $1', [username, disabled]);
  if (disabled) await db.query('DELETE FROM console_session WHERE username = $1', [username]);
}

const tokenHash = (token: string) => createHash('sha256').update(token).digest('hex');

/** Checks the password; on success a new session: the token goes to the browser, only its hash is stored. */
export async function signIn(
  db: Queryable,
  username: string,
  password: string,
  ip?: string,
): Promise<{ token: string; session: Session } | undefined> {
  const r = await db.query<{ password_hash: string; role: Role; disabled: boolean }>(
    'SELECT password_hash, role, disabled FROM console_user WHERE username = $1',
    [username],
  );
  const u = r.rows[0];
  // The same work whether or not the user exists: response time does not tell which usernames are real.
  const ok = await verifyPassword(password, u?.password_hash ?? 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA');
  if (!u || !ok || u.disabled) return undefined;
  return createSession(db, username, u.role, ip);
}

/** A new session of a user already authenticated (password or OIDC). */
export async function createSession(
  db: Queryable,
  username: string,
  role: Role,
  ip?: string,
): Promise<{ token: string; session: Session }> {
  const token = randomBytes(32).toString('base64url');
  const csrf = randomBytes(24).toString('base64url');
  const expiresAt = new Date(Date.now() + SESSION_MS).toISOString();
  await db.query('DELETE FROM console_session WHERE expires_at < now()');
  await db.query(
    'INSERT INTO console_session (token_hash, username, csrf, expires_at, ip) VALUES ($1, $2, $3, $4, $5)',
    [tokenHash(token), username, csrf, expiresAt, ip ?? null],
  );
  return { token, session: { username, role, csrf, expiresAt } };
}

export async function sessionOf(db: Queryable, token: string | undefined): Promise<Session | undefined> {
  if (!token) return undefined;
  const r = await db.query<{ username: string; role: Role; csrf: string; expires_at: Date }>(
    `SELECT s.username, u.role, s.csrf, s.expires_at FROM console_session s JOIN console_user u USING (username)
      WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT u.disabled`,
    [tokenHash(token)],
  );
  const s = r.rows[0];
  return s
    ? { username: s.username, role: s.role, csrf: s.csrf, expiresAt: new Date(s.expires_at).toISOString() }
    : undefined;
}

export async function signOut(db: Queryable, token: string): Promise<void> {
  await db.query('DELETE FROM console_session WHERE token_hash = $1', [tokenHash(token)]);
}

export function csrfMatches(session: Session, given: unknown): boolean {
  if (typeof given !== 'string' || given.length !== session.csrf.length) return false;
  return timingSafeEqual(Buffer.from(given), Buffer.from(session.csrf));
}

/** The local admin for `npm start`: created once with a random password (returned only when created now). */
export async function ensureLocalAdmin(db: Queryable, username = 'admin'): Promise<string | undefined> {
  const r = await db.query('SELECT 1 FROM console_user WHERE username = $1', [username]);
  if (r.rowCount > 0) return undefined;
  const password = randomBytes(12).toString('base64url');
  await putUser(db, username, password, 'admin');
  return password;
}

export interface AuditEntry {
  username?: string;
  role?: string;
  action: string;
  target?: string;
  detail?: Record<string, unknown>;
  ip?: string;
}

/** Appends to the audit log (migration 051: a trigger refuses UPDATE and DELETE). Ids and filter kinds, no PHI. */
export async function audit(db: Queryable, e: AuditEntry): Promise<void> {
  await db.query(
    'INSERT INTO audit_log (username, role, action, target, detail, ip) VALUES ($1, $2, $3, $4, $5::jsonb, $6)',
    [
      e.username ?? null,
      e.role ?? null,
      e.action,
      e.target ?? null,
      e.detail ? JSON.stringify(e.detail) : null,
      e.ip ?? null,
    ],
  );
}

export interface AuditRow extends AuditEntry {
  id: number;
  at: string;
}

export async function listAudit(
  db: Queryable,
  options: { before?: number; limit?: number; action?: string; username?: string } = {},
): Promise<AuditRow[]> {
  const r = await db.query<{
    id: string;
    at: Date;
    username: string | null;
    role: string | null;
    action: string;
    target: string | null;
    detail: unknown;
    ip: string | null;
  }>(
    `SELECT * FROM audit_log WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR action = $2)
        AND ($3::text IS NULL OR username = $3) ORDER BY id DESC LIMIT $4`,
    [options.before ?? null, options.action ?? null, options.username ?? null, Math.min(options.limit ?? 100, 1000)],
  );
  return r.rows.map((a) => ({
    id: Number(a.id),
    at: new Date(a.at).toISOString(),
    ...(a.username ? { username: a.username } : {}),
    ...(a.role ? { role: a.role } : {}),
    action: a.action,
    ...(a.target ? { target: a.target } : {}),
    ...(a.detail
      ? { detail: (typeof a.detail === 'string' ? JSON.parse(a.detail) : a.detail) as Record<string, unknown> }
      : {}),
    ...(a.ip ? { ip: a.ip } : {}),
  }));
}

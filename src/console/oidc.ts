import { createHash, randomBytes } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Queryable } from '../store/db.ts';
import { ROLES, type Role } from './access.ts';

/**
 * OIDC sign-in (optional): authorization-code flow with PKCE (S256) against one configured issuer. Discovery from
 * <issuer>/.well-known/openid-configuration, the ID token verified with the issuer's JWKS (signature, iss, aud,
 * exp, nonce), the console role taken from a claim. The state is single-use, bound to the browser by a cookie, and
 * expires after 10 minutes; the PKCE verifier never leaves this server until the token request.
 */
export interface OidcConfig {
  issuer: string;
  clientId: string;
  /** Confidential client (client_secret_basic); without it a public client (PKCE only). */
  clientSecret?: string;
  /** Where the issuer sends the browser back; default <console URL>/login/oidc/callback. */
  redirectUri?: string;
  scopes: string;
  /** Claim holding the role(s): a string or an array of strings. */
  roleClaim: string;
  /** Claim value → role; a value that is a role's name maps to it unless mapped otherwise. */
  roleMap: Record<string, Role>;
  /** Given to a user whose claim maps to no role; unset: such a user cannot sign in. */
  defaultRole?: Role;
  /** Claim the console username is made from (prefixed `oidc.`). */
  usernameClaim: string;
  /** Shown on the sign-in button. */
  label: string;
}

export const OIDC_CALLBACK = '/login/oidc/callback';
const PENDING_MS = 10 * 60_000;
/** When a user holds several roles the first of these wins. */
const PRECEDENCE: Role[] = ['admin', 'operator', 'reviewer', 'viewer'];

const asRole = (v: string | undefined): Role | undefined =>
  v && (ROLES as readonly string[]).includes(v) ? (v as Role) : undefined;

/** TC_OIDC_ISSUER and TC_OIDC_CLIENT_ID switch it on; the rest are optional (docs/console-oidc.md). */
export function oidcFromEnv(env: NodeJS.ProcessEnv = process.env): OidcConfig | undefined {
  if (!env.TC_OIDC_ISSUER || !env.TC_OIDC_CLIENT_ID) return undefined;
  const roleMap: Record<string, Role> = {};
  for (const pair of (env.TC_OIDC_ROLE_MAP ?? '').split(',').filter(Boolean)) {
    const [value, role] = pair.split('=').map((s) => s.trim());
    const r = asRole(role);
    if (!value || !r)
      throw new Error(`TC_OIDC_ROLE_MAP: "${pair}" is not claim-value=role (roles: ${ROLES.join(', ')})`);
    roleMap[value] = r;
  }
  const defaultRole = asRole(env.TC_OIDC_DEFAULT_ROLE);
  if (env.TC_OIDC_DEFAULT_ROLE && !defaultRole) throw new Error('TC_OIDC_DEFAULT_ROLE is not a role');
  return {
    issuer: env.TC_OIDC_ISSUER,
    clientId: env.TC_OIDC_CLIENT_ID,
    ...(env.TC_OIDC_CLIENT_SECRET ? { clientSecret: env.TC_OIDC_CLIENT_SECRET } : {}),
    ...(env.TC_OIDC_REDIRECT_URI ? { redirectUri: env.TC_OIDC_REDIRECT_URI } : {}),
    scopes: env.TC_OIDC_SCOPES ?? 'openid profile email',
    roleClaim: env.TC_OIDC_ROLE_CLAIM ?? 'roles',
    roleMap,
    ...(defaultRole ? { defaultRole } : {}),
    usernameClaim: env.TC_OIDC_USERNAME_CLAIM ?? 'preferred_username',
    label: env.TC_OIDC_LABEL ?? 'single sign-on',
  };
}

/** Why a sign-in failed: a code for the audit log and the page (no token, claim value or PHI). */
export class OidcError extends Error {
  constructor(readonly reason: string) {
    super(`OIDC sign-in failed: ${reason}`);
  }
}

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  code_challenge_methods_supported?: string[];
}

const b64url = (b: Buffer) => b.toString('base64url');
const sha256 = (s: string) => createHash('sha256').update(s).digest();

export class OidcClient {
  private discovered?: Promise<Discovery>;
  private jwks?: ReturnType<typeof createRemoteJWKSet>;

  constructor(readonly config: OidcConfig) {}

  private discovery(): Promise<Discovery> {
    this.discovered ??= (async () => {
      const url = `${this.config.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
      const res = await fetch(url, { headers: { accept: 'application/json' } });
      if (!res.ok) throw new OidcError(`discovery answered HTTP ${res.status}`);
      const d = (await res.json()) as Partial<Discovery>;
      // The issuer must name itself as configured (OpenID Connect Discovery §4.3).
      if (d.issuer !== this.config.issuer) throw new OidcError('discovery names another issuer');
      if (!d.authorization_endpoint || !d.token_endpoint || !d.jwks_uri)
        throw new OidcError('discovery lacks an endpoint');
      if (d.code_challenge_methods_supported && !d.code_challenge_methods_supported.includes('S256'))
        throw new OidcError('issuer does not support PKCE S256');
      this.jwks = createRemoteJWKSet(new URL(d.jwks_uri));
      return d as Discovery;
    })();
    this.discovered.catch(() => (this.discovered = undefined));
    return this.discovered;
  }

  /** The authorization URL to send the browser to, and the state to bind to the browser (cookie). */
  async begin(db: Queryable, redirectUri: string): Promise<{ url: string; state: string }> {
    const d = await this.discovery();
    const state = b64url(randomBytes(32));
    const nonce = b64url(randomBytes(32));
    const verifier = b64url(randomBytes(48));
    await db.query(`DELETE FROM console_oidc_pending WHERE created_at < now() - interval '10 minutes'`);
    await db.query(
      'INSERT INTO console_oidc_pending (state_hash, nonce, verifier, redirect_uri) VALUES ($1, $2, $3, $4)',
      [b64url(sha256(state)), nonce, verifier, redirectUri],
    );
    const url = new URL(d.authorization_endpoint);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: this.config.clientId,
      redirect_uri: redirectUri,
      scope: this.config.scopes,
      state,
      nonce,
      code_challenge: b64url(sha256(verifier)),
      code_challenge_method: 'S256',
    }).toString();
    return { url: url.toString(), state };
  }

  /** The callback: checks state (single use, this browser's), redeems the code, verifies the ID token. */
  async finish(
    db: Queryable,
    query: Record<string, unknown>,
    browserState: string | undefined,
  ): Promise<{ issuer: string; subject: string; name: string; role: Role }> {
    if (typeof query.error === 'string') throw new OidcError(`issuer refused (${query.error.slice(0, 40)})`);
    const { code, state } = query;
    if (typeof state !== 'string' || typeof code !== 'string' || !code) throw new OidcError('no code or state');
    if (!browserState || browserState !== state) throw new OidcError('state does not match this browser');
    const taken = await db.query<{ nonce: string; verifier: string; redirect_uri: string; created_at: Date }>(
      'DELETE FROM console_oidc_pending WHERE state_hash = $1 RETURNING nonce, verifier, redirect_uri, created_at',
      [b64url(sha256(state))],
    );
    const pending = taken.rows[0];
    if (!pending) throw new OidcError('unknown or used state');
    if (Date.now() - new Date(pending.created_at).getTime() > PENDING_MS) throw new OidcError('state expired');
    const d = await this.discovery();
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    const body = new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: pending.redirect_uri,
      code_verifier: pending.verifier,
    });
    if (this.config.clientSecret) {
      const id = encodeURIComponent(this.config.clientId);
      const secret = encodeURIComponent(this.config.clientSecret);
      headers.authorization = `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
    } else body.set('client_id', this.config.clientId);
    const res = await fetch(d.token_endpoint, { method: 'POST', headers, body });
    if (!res.ok) throw new OidcError(`token endpoint answered HTTP ${res.status}`);
    const tokens = (await res.json()) as { id_token?: unknown };
    if (typeof tokens.id_token !== 'string') throw new OidcError('no ID token');
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(tokens.id_token, this.jwks!, {
        issuer: this.config.issuer,
        audience: this.config.clientId,
        algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'],
        requiredClaims: ['sub', 'exp', 'iat', 'nonce'],
        clockTolerance: 60,
      }));
    } catch (err) {
      throw new OidcError(`ID token rejected (${(err as { code?: string }).code ?? 'invalid'})`);
    }
    if (claims.nonce !== pending.nonce) throw new OidcError('nonce does not match');
    if (Array.isArray(claims.aud) && claims.aud.length > 1 && claims.azp !== this.config.clientId)
      throw new OidcError('ID token is for another party (azp)');
    const role = this.roleOf(claims);
    if (!role) throw new OidcError('no console role in the ID token');
    const raw = claims[this.config.usernameClaim];
    return {
      issuer: this.config.issuer,
      subject: String(claims.sub),
      name: typeof raw === 'string' && raw ? raw : String(claims.sub),
      role,
    };
  }

  private roleOf(claims: JWTPayload): Role | undefined {
    const v = claims[this.config.roleClaim];
    const values = (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
    const roles = new Set(values.map((x) => this.config.roleMap[x] ?? asRole(x)).filter(Boolean));
    return PRECEDENCE.find((r) => roles.has(r)) ?? this.config.defaultRole;
  }
}

/**
 * The console user of an OIDC identity (issuer + subject), created on first sign-in as `oidc.<name>` (a local user
 * of the same name is never taken over: the name gets the identity's hash), its role refreshed from the claim each
 * time. Undefined when an admin disabled the user. Its password hash verifies no password.
 */
export async function oidcUser(
  db: Queryable,
  id: { issuer: string; subject: string; name: string; role: Role },
): Promise<string | undefined> {
  const known = await db.query<{ username: string; disabled: boolean }>(
    'UPDATE console_user SET role = $3 WHERE oidc_issuer = $1 AND oidc_subject = $2 RETURNING username, disabled',
    [id.issuer, id.subject, id.role],
  );
  if (known.rows[0]) return known.rows[0].disabled ? undefined : known.rows[0].username;
  const base = `oidc.${id.name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .slice(0, 40)}`;
  const tag = createHash('sha256').update(`${id.issuer}\u0000${id.subject}`).digest('hex').slice(0, 8);
  for (const username of [base, `${base}.${tag}`]) {
    const r = await db.query(
      `INSERT INTO console_user (username, password_hash, role, oidc_issuer, oidc_subject)
       VALUES ($1, 'oidc', $2, $3, $4) ON CONFLICT (username) DO NOTHING`,
      [username, id.role, id.issuer, id.subject],
    );
    if (r.rowCount > 0) return username;
  }
  throw new OidcError('no free console username for this identity');
}

import { createHash, randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import express from 'express';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

/** What the next ID token does wrong (each checks one of the console's verifications). */
export type Tamper = 'none' | 'wrong-key' | 'wrong-nonce' | 'wrong-audience' | 'expired' | 'other-issuer';

export interface IssuerUser {
  sub: string;
  preferred_username: string;
  roles?: string[];
}

export interface OidcIssuerSim {
  issuer: string;
  clientId: string;
  /** The one redirect URI registered for the client (set once the console listens). */
  redirectUri: string;
  /** Who signs in at the next /authorize (the simulator asks no password). */
  user: IssuerUser;
  tamper: Tamper;
  /** Requests it refused, with its reason (a strict issuer: the test asserts none were expected). */
  refused: string[];
  tokenRequests: number;
  close(): Promise<void>;
}

interface Grant {
  challenge: string;
  nonce: string;
  redirectUri: string;
  clientId: string;
  sub: string;
  used: boolean;
  at: number;
}

const sha256url = (s: string) => createHash('sha256').update(s).digest('base64url');

/**
 * A small OpenID provider of our own, stricter than real ones: exact redirect_uri, S256 PKCE only, state and nonce
 * required, codes single-use for 60 s and bound to their client, redirect URI and challenge; ID tokens RS256 with
 * a kid from its JWKS. Anything else is a 400 recorded in `refused`.
 */
export async function startOidcIssuer(o: { clientId: string; clientSecret?: string }): Promise<OidcIssuerSim> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const rogue = await generateKeyPair('RS256');
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const grants = new Map<string, Grant>();
  const app = express();
  app.use(express.urlencoded({ extended: false }));
  const sim: OidcIssuerSim = {
    issuer: '',
    clientId: o.clientId,
    redirectUri: '',
    user: { sub: 'u-1', preferred_username: 'alice', roles: ['tc-operators'] },
    tamper: 'none',
    refused: [],
    tokenRequests: 0,
    close: async () => undefined,
  };
  const refuse = (res: express.Response, error: string, why: string) => {
    sim.refused.push(why);
    res.status(400).json({ error, error_description: why });
  };
  app.get('/.well-known/openid-configuration', (_req, res) => {
    res.json({
      issuer: sim.issuer,
      authorization_endpoint: `${sim.issuer}/authorize`,
      token_endpoint: `${sim.issuer}/token`,
      jwks_uri: `${sim.issuer}/jwks`,
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: [o.clientSecret ? 'client_secret_basic' : 'none'],
    });
  });
  app.get('/jwks', (_req, res) => {
    res.json({ keys: [jwk] });
  });
  app.get('/authorize', (req, res) => {
    const q = req.query as Record<string, string | undefined>;
    if (q.client_id !== o.clientId) return refuse(res, 'unauthorized_client', 'unknown client_id');
    // Checked before anything is sent back to it: an unregistered redirect_uri gets no redirect.
    if (!sim.redirectUri || q.redirect_uri !== sim.redirectUri)
      return refuse(res, 'invalid_request', 'redirect_uri not registered');
    if (q.response_type !== 'code') return refuse(res, 'unsupported_response_type', 'response_type must be code');
    if (!(q.scope ?? '').split(' ').includes('openid')) return refuse(res, 'invalid_scope', 'scope lacks openid');
    if (!q.state || q.state.length < 16) return refuse(res, 'invalid_request', 'state missing or short');
    if (!q.nonce || q.nonce.length < 16) return refuse(res, 'invalid_request', 'nonce missing or short');
    if (q.code_challenge_method !== 'S256') return refuse(res, 'invalid_request', 'PKCE S256 required');
    if (!/^[A-Za-z0-9_-]{43}$/.test(q.code_challenge ?? ''))
      return refuse(res, 'invalid_request', 'code_challenge malformed');
    const code = randomBytes(24).toString('base64url');
    grants.set(code, {
      challenge: q.code_challenge!,
      nonce: q.nonce,
      redirectUri: q.redirect_uri,
      clientId: q.client_id,
      sub: sim.user.sub,
      used: false,
      at: Date.now(),
    });
    const back = new URL(q.redirect_uri);
    back.searchParams.set('code', code);
    back.searchParams.set('state', q.state);
    res.redirect(302, back.toString());
  });
  app.post('/token', async (req, res) => {
    sim.tokenRequests++;
    const b = req.body as Record<string, string | undefined>;
    let clientId = b.client_id;
    if (o.clientSecret) {
      const basic = /^Basic (.+)$/.exec(req.get('authorization') ?? '')?.[1];
      const [id, secret] = Buffer.from(basic ?? '', 'base64')
        .toString()
        .split(':')
        .map((s) => decodeURIComponent(s));
      if (id !== o.clientId || secret !== o.clientSecret) return refuse(res, 'invalid_client', 'client auth failed');
      clientId = id;
    }
    if (b.grant_type !== 'authorization_code') return refuse(res, 'unsupported_grant_type', 'grant_type');
    const g = grants.get(b.code ?? '');
    if (!g) return refuse(res, 'invalid_grant', 'unknown code');
    if (g.used) return refuse(res, 'invalid_grant', 'code used twice');
    g.used = true;
    if (Date.now() - g.at > 60_000) return refuse(res, 'invalid_grant', 'code expired');
    if (clientId !== g.clientId) return refuse(res, 'invalid_grant', 'code of another client');
    if (b.redirect_uri !== g.redirectUri) return refuse(res, 'invalid_grant', 'redirect_uri differs from authorize');
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(b.code_verifier ?? '') || sha256url(b.code_verifier!) !== g.challenge)
      return refuse(res, 'invalid_grant', 'PKCE verifier does not match');
    const t = sim.tamper;
    const key: CryptoKey = t === 'wrong-key' ? rogue.privateKey : privateKey;
    const now = Math.floor(Date.now() / 1000);
    const idToken = await new SignJWT({
      nonce: t === 'wrong-nonce' ? 'not-the-nonce-that-was-sent' : g.nonce,
      preferred_username: sim.user.preferred_username,
      ...(sim.user.roles ? { roles: sim.user.roles } : {}),
    })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(t === 'other-issuer' ? 'https://issuer.example' : sim.issuer)
      .setAudience(t === 'wrong-audience' ? 'another-client' : o.clientId)
      .setSubject(g.sub)
      .setIssuedAt(t === 'expired' ? now - 7200 : now)
      .setExpirationTime(t === 'expired' ? now - 3600 : now + 300)
      .sign(key);
    res.json({
      access_token: randomBytes(16).toString('hex'),
      token_type: 'Bearer',
      expires_in: 300,
      id_token: idToken,
    });
  });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const addr = server.address();
  sim.issuer = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  sim.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return sim;
}

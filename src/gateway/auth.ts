import { BlockList, isIPv6 } from 'node:net';
import type { SenderProfile } from '../mappings/sender-profile.ts';

/** What the gateway knows about the peer of one connection. */
export interface PeerInfo {
  remoteAddress?: string;
  tls: boolean;
  /** Subject CN of the verified client certificate (TLS only). */
  certificateCN?: string;
}

export type AuthDecision = { ok: true } | { ok: false; reason: string };

/** '::ffff:10.1.2.3' → '10.1.2.3'. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** Exact addresses or CIDR blocks (IPv4 and IPv6); '0.0.0.0/0' and '::/0' allow any. */
export function addressAllowed(address: string | undefined, allowed: readonly string[]): boolean {
  if (!address) return false;
  const addr = normalizeAddress(address);
  const family = isIPv6(addr) ? 'ipv6' : 'ipv4';
  const list = new BlockList();
  for (const entry of allowed) {
    const [ip, bits] = entry.split('/');
    if (!ip) continue;
    const fam = isIPv6(ip) ? 'ipv6' : 'ipv4';
    try {
      if (bits === undefined) list.addAddress(ip, fam);
      else list.addSubnet(ip, Number(bits), fam);
    } catch {
      // an invalid entry allows nothing (config check reports it)
    }
  }
  return list.check(addr, family);
}

/**
 * A sender may use the gateway when it has a profile of its own (not the default) and, over TLS, its
 * profile's gatewayAuth lists the client certificate CN and the source address. Without TLS a
 * gatewayAuth.sourceAddresses list, when given, is still enforced.
 */
export function authorizeSender(profile: SenderProfile, known: boolean, peer: PeerInfo): AuthDecision {
  if (!known) return { ok: false, reason: 'sender has no profile for MSH-3/MSH-4' };
  const auth = profile.gatewayAuth;
  if (peer.tls) {
    if (!auth) return { ok: false, reason: 'sender profile has no gatewayAuth for TLS connections' };
    if (!peer.certificateCN || !auth.certificateCN.includes(peer.certificateCN))
      return { ok: false, reason: 'client certificate CN is not allowed for this sender' };
    if (!addressAllowed(peer.remoteAddress, auth.sourceAddresses))
      return { ok: false, reason: 'source address is not allowed for this sender' };
    return { ok: true };
  }
  if (auth && auth.sourceAddresses.length > 0 && !addressAllowed(peer.remoteAddress, auth.sourceAddresses))
    return { ok: false, reason: 'source address is not allowed for this sender' };
  return { ok: true };
}

/**
 * A peer known before it sends anything: its address is in a profile's gatewayAuth.sourceAddresses, or its client
 * certificate CN in a profile's certificateCN. Such a peer is served from the slots reserved for known senders.
 */
export function knownPeer(profiles: readonly SenderProfile[]): (peer: PeerInfo) => boolean {
  const withAuth = profiles.filter((p) => p.gatewayAuth);
  return (peer) =>
    withAuth.some(
      (p) =>
        (p.gatewayAuth!.sourceAddresses.length > 0 &&
          addressAllowed(peer.remoteAddress, p.gatewayAuth!.sourceAddresses)) ||
        (peer.certificateCN !== undefined && p.gatewayAuth!.certificateCN.includes(peer.certificateCN)),
    );
}

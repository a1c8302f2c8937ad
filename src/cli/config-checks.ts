import { basename, join } from 'node:path';
import type { SiteDirectory } from '../delivery/sites.ts';
import type { CodeTables, TableId } from '../mappings/codes.ts';
import { loadDataDir } from '../mappings/load.ts';
import { senderProfileSchema, type SenderProfile } from '../mappings/sender-profile.ts';
import type { Participant } from '../roster/types.ts';

/** One finding of `config check`: the file, the path inside it, and what is wrong (ids and codes, never PHI). */
export interface ConfigProblem {
  file: string;
  path: string;
  message: string;
  severity: 'error' | 'warning';
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.severity}: ${p.file}: ${p.path}: ${p.message}`;
}

/** Whether the runtime knows the IANA zone (the converter would fail on every message of the sender otherwise). */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const ABSOLUTE_URI = /^(https?:\/\/[^\s/]+\/\S*|urn:(oid:[0-2](\.\d+)+|uuid:[0-9a-f-]{36}|[a-z0-9][a-z0-9-]*:\S+))$/i;

/**
 * Sender profiles against the code tables and the gateway: zones the runtime knows, aliases onto codes the tables
 * hold, coding systems that are absolute URIs, and (when the gateway listens beyond loopback) who may send.
 */
export function checkSenderProfiles(
  sendersDir: string,
  codes: CodeTables,
  gatewayHost: string = process.env.MLLP_HOST ?? '0.0.0.0',
): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const err = (file: string, path: string, message: string) => out.push({ file, path, message, severity: 'error' });
  const exposed = !['127.0.0.1', 'localhost', '::1'].includes(gatewayHost);
  for (const { file, data } of loadDataDir(senderProfileSchema, sendersDir)) {
    const p: SenderProfile = data;
    if (!isTimeZone(p.timeZone)) err(file, 'timeZone', `${p.timeZone} is not an IANA time zone (e.g. America/Chicago)`);
    const aliases: [keyof SenderProfile['codeAliases'], TableId][] = [
      ['dischargeDisposition', 'discharge-disposition'],
      ['patientClass', 'patient-class'],
      ['admitSource', 'admit-source'],
    ];
    for (const [alias, tableId] of aliases) {
      const table = codes[tableId];
      if (!table) continue;
      for (const [local, code] of Object.entries(p.codeAliases[alias]))
        if (!table.lookup(code))
          err(file, `codeAliases.${alias}.${local}`, `maps onto ${code}, which code table ${tableId} does not hold`);
    }
    for (const [name, system] of Object.entries(p.codeAliases.diagnosisSystems))
      if (!ABSOLUTE_URI.test(system))
        err(
          file,
          `codeAliases.diagnosisSystems.${name}`,
          'is not an absolute coding system URI (http(s)://… or urn:…)',
        );
    for (const [ns, system] of Object.entries(p.identifierSystems))
      if (!ABSOLUTE_URI.test(system))
        err(file, `identifierSystems.${ns}`, 'is not an absolute identifier system URI (http(s)://… or urn:oid:…)');
    if (!ABSOLUTE_URI.test(p.facility.system)) err(file, 'facility.system', 'is not an absolute identifier system URI');
    const auth = p.gatewayAuth;
    const isDefault = basename(file).startsWith('_'); // the default profile is no sender the gateway admits
    if (exposed && !isDefault && !(auth && (auth.certificateCN.length || auth.sourceAddresses.length)))
      out.push({
        file,
        path: 'gatewayAuth',
        message: `the gateway listens on ${gatewayHost} and any peer may send as ${p.match.sendingApplication}/${p.match.sendingFacility}: set gatewayAuth (certificateCN or sourceAddresses), or MLLP_HOST=127.0.0.1`,
        severity: 'warning',
      });
  }
  return out;
}

/** Roster ↔ site directory: every enrollment's site must be one the engine can deliver to. */
export function checkRosterSites(
  rosterFile: string,
  participants: readonly Participant[],
  sites: SiteDirectory,
  sitesDir: string,
): ConfigProblem[] {
  const known = new Set(sites.sites.map((s) => s.siteId));
  const unknown = new Map<string, string[]>();
  for (const p of participants)
    for (const e of p.enrollments)
      if (!known.has(e.siteId)) unknown.set(e.siteId, [...(unknown.get(e.siteId) ?? []), p.participantId]);
  return [...unknown].map(([siteId, ids]) => ({
    file: rosterFile,
    path: `site_id ${siteId}`,
    message: `not in the site directory ${join(sitesDir)} (participants ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? `, +${ids.length - 5}` : ''}): their Tasks would be unroutable`,
    severity: 'error',
  }));
}

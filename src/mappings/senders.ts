import { basename } from 'node:path';
import type { CodeTables } from './codes.ts';
import { loadCodeTables } from './codes.ts';
import { MappingError, loadDataDir, validateData } from './load.ts';
import { type SenderProfile, senderProfileSchema } from './sender-profile.ts';

/**
 * Sender profile registry: one YAML file per sender in mappings/senders/, keyed by MSH-3 + MSH-4
 * (MSH-3 '*' matches any application). `_default.yaml` (or the built-in default) serves senders with no file.
 */
export interface SenderProfiles {
  readonly all: readonly SenderProfile[];
  readonly defaultProfile: SenderProfile;
  resolve(sendingApplication: string | undefined, sendingFacility: string | undefined): { profile: SenderProfile; known: boolean };
  byId(id: string): SenderProfile | undefined;
}

export const DEFAULT_SENDERS_DIR = 'mappings/senders';

/** The built-in default profile: used when a sender has no file and no _default.yaml exists. */
export const BUILTIN_DEFAULT_PROFILE: SenderProfile = validateData(
  senderProfileSchema,
  {
    id: 'default',
    description: 'Built-in default for senders with no profile (convert/process only).',
    match: { sendingApplication: '*', sendingFacility: '*' },
    facility: { system: 'urn:tc-alerts:unknown-facility', value: 'unknown', name: 'Unknown sending facility' },
  },
  'built-in default profile',
);

const key = (app: string, fac: string): string => `${app.toUpperCase()}\u001f${fac.toUpperCase()}`;

export function createSenderProfiles(profiles: readonly SenderProfile[], defaultProfile: SenderProfile = BUILTIN_DEFAULT_PROFILE): SenderProfiles {
  const exact = new Map<string, SenderProfile>();
  const anyApp = new Map<string, SenderProfile>();
  const ids = new Map<string, SenderProfile>();
  for (const p of profiles) {
    if (ids.has(p.id)) throw new MappingError(`sender profile id ${p.id} is used twice`);
    ids.set(p.id, p);
    const { sendingApplication: app, sendingFacility: fac } = p.match;
    const target = app === '*' ? anyApp : exact;
    const k = app === '*' ? fac.toUpperCase() : key(app, fac);
    const clash = target.get(k);
    if (clash) throw new MappingError(`sender profiles ${clash.id} and ${p.id} match the same MSH-3/MSH-4`);
    target.set(k, p);
  }
  return {
    all: profiles,
    defaultProfile,
    byId: (id) => ids.get(id) ?? (id === defaultProfile.id ? defaultProfile : undefined),
    resolve(app, fac) {
      const f = fac ?? '';
      const p = exact.get(key(app ?? '', f)) ?? anyApp.get(f.toUpperCase());
      return p ? { profile: p, known: true } : { profile: defaultProfile, known: false };
    },
  };
}

/** Loads and validates every profile in the folder; files starting with '_' are not senders (`_default.yaml` is the default). */
export function loadSenderProfiles(dir: string = DEFAULT_SENDERS_DIR): SenderProfiles {
  const entries = loadDataDir(senderProfileSchema, dir);
  const def = entries.find((e) => basename(e.file).startsWith('_default.'));
  const senders = entries.filter((e) => !basename(e.name).startsWith('_')).map((e) => e.data);
  return createSenderProfiles(senders, def?.data ?? BUILTIN_DEFAULT_PROFILE);
}

/** Everything convertMessage needs, loaded once at start-up. */
export function loadConvertContext(options: { sendersDir?: string; codesDir?: string } = {}): { profiles: SenderProfiles; codes: CodeTables } {
  return { profiles: loadSenderProfiles(options.sendersDir), codes: loadCodeTables(options.codesDir) };
}

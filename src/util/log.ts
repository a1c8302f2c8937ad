import pino from 'pino';

/**
 * The one logger. Logs carry ids and codes only; these redact paths are a second line of defence in case a
 * PHI-bearing object reaches a log call anyway (names, birth dates, MRNs, DCNs, addresses, phones, raw HL7).
 */
export const REDACT_PATHS = [
  'name',
  'names',
  'birthDate',
  'birth_date',
  'dob',
  'mrn',
  'dcn',
  'ssn',
  'address',
  'telecom',
  'phone',
  'raw',
  'message',
  'payload',
  'patient',
  'participant',
  'resource',
  'bundle',
  'body',
  '*.name',
  '*.birthDate',
  '*.mrn',
  '*.dcn',
  '*.ssn',
  '*.address',
  '*.telecom',
  '*.phone',
  '*.raw',
  '*.patient',
  '*.participant',
  '*.resource',
  '*.body',
];

export type Logger = pino.Logger;

export function createLogger(
  options: { level?: string; name?: string; destination?: pino.DestinationStream } = {},
): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info';
  const opts: pino.LoggerOptions = {
    level,
    base: { svc: options.name ?? 'tc-alerts' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts, pino.destination(2));
}

let root: Logger | undefined;
export function log(): Logger {
  root ??= createLogger();
  return root;
}
export function setLogger(l: Logger): void {
  root = l;
}

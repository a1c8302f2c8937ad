import { closeSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { ConvertResult } from '../fhir/types.ts';
import { DEFAULT_CODES_DIR } from '../mappings/codes.ts';
import { MappingError } from '../mappings/load.ts';
import { DEFAULT_SENDERS_DIR, loadConvertContext } from '../mappings/senders.ts';
import { convertAdmitted } from './admission.ts';
import { userMessage } from './errors.ts';

/** Whether a file found in a folder holds HL7 v2: it starts (after a BOM, an MLLP start byte or blanks) with MSH/FHS/BHS. */
export function looksLikeHl7(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(64);
    const n = readSync(fd, head, 0, 64, 0);
    // Strip a UTF-8 BOM, the MLLP start byte (VT, 0x0b) and blanks; then the first segment must be a header.
    const text = head
      .subarray(0, n)
      .toString('latin1')
      .replace(/^\xEF\xBB\xBF/, '')
      .replaceAll('\v', '')
      .trimStart();
    return /^(?:MSH|FHS|BHS)./.test(text);
  } finally {
    closeSync(fd);
  }
}

/**
 * Every file under the given paths, each directory walked recursively, all in sorted order. '-' is stdin. A file
 * named on the line is always taken; in a folder, files are taken by content (HL7 v2 whatever their name, `.txt`
 * included), so README.md or a mapping beside the messages is left out.
 */
export function expandPaths(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (p: string, named: boolean): void => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const name of readdirSync(p).sort()) {
        if (name.startsWith('.')) continue;
        walk(join(p, name), false);
      }
    } else if (named || looksLikeHl7(p)) out.push(p);
  };
  for (const p of [...paths].sort()) {
    if (p === '-') out.push('-');
    else walk(p, true);
  }
  return out;
}

function resourceOf(r: ConvertResult): fhir4.FhirResource {
  return r.status === 'converted' ? r.converted.bundle : r.outcome;
}

function withFile(r: ConvertResult, file: string): fhir4.FhirResource {
  if (r.status !== 'rejected') return resourceOf(r);
  const o: fhir4.OperationOutcome = {
    ...r.outcome,
    issue: r.outcome.issue.map((i) => ({ ...i, diagnostics: `${file}: ${i.diagnostics ?? ''}` })),
  };
  return o;
}

export function register(program: Command): void {
  program
    .command('convert')
    .description(
      'convert HL7 v2 ADT files to FHIR R4 message Bundles, one JSON line per message (exit 2 if any is rejected)',
    )
    .argument('[paths...]', "files or directories (sorted; '-' reads stdin)", ['-'])
    .option('--senders <dir>', 'sender profile folder', DEFAULT_SENDERS_DIR)
    .option('--codes <dir>', 'code table folder', DEFAULT_CODES_DIR)
    .option('--envelope', 'wrap each line as {"source": {"file", "index"}, "resource": ...}', false)
    .option('--accept-any', 'also convert what the MLLP gateway refuses (senders without a profile, non-ADT types)')
    .action((paths: string[], opts: { senders: string; codes: string; envelope: boolean; acceptAny?: boolean }) => {
      let ctx;
      try {
        ctx = loadConvertContext({ sendersDir: opts.senders, codesDir: opts.codes });
      } catch (err) {
        process.stderr.write(`${err instanceof MappingError ? err.message : String(err)}\n`);
        process.exit(1);
      }
      let files: string[];
      try {
        files = expandPaths(paths.length ? paths : ['-']);
      } catch (err) {
        process.stderr.write(`tc-alerts: ${userMessage(err) ?? (err as Error).message}\n`);
        process.exit(1);
      }
      if (files.length === 0) {
        process.stderr.write(`tc-alerts: no HL7 v2 files (starting with MSH, FHS or BHS) in ${paths.join(', ')}\n`);
        process.exit(2);
      }
      let anyRejected = false;
      const lines: string[] = [];
      for (const file of files) {
        const input = file === '-' ? readFileSync(0) : readFileSync(resolve(file));
        const name = file === '-' ? '-' : file;
        convertAdmitted(input, ctx, Boolean(opts.acceptAny)).forEach((r, index) => {
          if (r.status === 'rejected') anyRejected = true;
          const resource = withFile(r, name);
          lines.push(JSON.stringify(opts.envelope ? { source: { file: name, index }, resource } : resource));
        });
        if (lines.length >= 256) process.stdout.write(lines.splice(0).join('\n') + '\n');
      }
      if (lines.length) process.stdout.write(lines.join('\n') + '\n');
      process.exitCode = anyRejected ? 2 : 0;
    });
}

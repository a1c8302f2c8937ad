import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The build cache of src/interop/hapi-server.ts when several test processes start at once: one runs Maven under the
 * lock, the others wait and use its folder; a lock left by a dead process is taken over. A tiny Maven module stands
 * in for the HAPI one (same pom mechanics, seconds instead of minutes).
 */
const noMaven = spawnSync('mvn', ['-v']).error ? 'no Maven (mvn) on PATH' : undefined;
if (noMaven && process.env.CI === 'true') throw new Error(`HAPI build tests cannot run under CI: ${noMaven}`);

const work = mkdtempSync(join(tmpdir(), 'tc-hapi-build-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function tinyModule(): string {
  const dir = join(work, 'module');
  mkdirSync(join(dir, 'src/main/java/org/tcalerts/tiny'), { recursive: true });
  writeFileSync(
    join(dir, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>org.tc-alerts</groupId><artifactId>tiny</artifactId><version>1</version>
  <properties><maven.compiler.release>17</maven.compiler.release><project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
    <hapi.build.dir>\${project.basedir}/target</hapi.build.dir></properties>
  <build><directory>\${hapi.build.dir}</directory><plugins>
    <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-compiler-plugin</artifactId><version>3.13.0</version></plugin>
    <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId><version>3.8.1</version></plugin>
  </plugins></build></project>\n`,
  );
  writeFileSync(
    join(dir, 'src/main/java/org/tcalerts/tiny/Tiny.java'),
    'package org.tcalerts.tiny;\npublic final class Tiny { public static void main(String[] a) {} }\n',
  );
  return dir;
}

/** One process asking for the build, as a test file's globalSetup would. */
function ensureInChild(moduleDir: string, cacheDir: string): Promise<{ code: number | null; out: string }> {
  const code = `import { ensureHapiBuild } from ${JSON.stringify(resolve('src/interop/hapi-server.ts'))};
const b = await ensureHapiBuild({ moduleDir: ${JSON.stringify(moduleDir)}, cacheDir: ${JSON.stringify(cacheDir)} });
console.log(JSON.stringify({ dir: b.dir, built: b.built }));`;
  return new Promise((res) => {
    const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.once('exit', (c) => res({ code: c, out }));
  });
}

const result = (out: string) => JSON.parse(out.trim().split('\n').at(-1)!) as { dir: string; built: boolean };

describe.skipIf(noMaven)('HAPI server build cache', () => {
  it('three processes starting at once: one Maven build, all three get the same complete folder', async () => {
    const moduleDir = tinyModule();
    const cacheDir = join(work, 'cache-a');
    const runs = await Promise.all([0, 1, 2].map(() => ensureInChild(moduleDir, cacheDir)));
    for (const r of runs) expect(r.code, r.out).toBe(0);
    const results = runs.map((r) => result(r.out));
    expect(results.filter((r) => r.built)).toHaveLength(1);
    expect(new Set(results.map((r) => r.dir)).size).toBe(1);
    const dir = results[0]!.dir;
    expect(existsSync(join(dir, 'classes/org/tcalerts/tiny/Tiny.class'))).toBe(true);
    expect(existsSync(join(dir, 'classpath.txt'))).toBe(true);
    // no lock and no half-built folder left behind
    expect(readdirSync(cacheDir).filter((f) => f.includes('.lock') || f.includes('.tmp-'))).toEqual([]);
    // a later process finds the cache and builds nothing
    expect(result((await ensureInChild(moduleDir, cacheDir)).out).built).toBe(false);
  }, 600_000);

  it('takes over a lock whose owner died', async () => {
    const moduleDir = tinyModule();
    const cacheDir = join(work, 'cache-b');
    const first = result((await ensureInChild(moduleDir, cacheDir)).out);
    rmSync(first.dir, { recursive: true, force: true });
    // a lock as a crashed build leaves it: the owner's pid no longer runs
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim();
    mkdirSync(`${first.dir}.lock`);
    writeFileSync(join(`${first.dir}.lock`, 'pid'), dead);
    const r = await ensureInChild(moduleDir, cacheDir);
    expect(r.code, r.out).toBe(0);
    expect(result(r.out)).toEqual({ dir: first.dir, built: true });
    expect(existsSync(`${first.dir}.lock`)).toBe(false);
  }, 600_000);
});

// npm run bench [-- name…]: runs the benchmarks one after another (each in its own process, so one does not warm or
// load the next) and ends with the headline (last line) of each. Names: parse convert match deliver mllp pipeline.
import { spawn } from 'node:child_process';

const ALL = ['parse', 'convert', 'match', 'deliver', 'mllp', 'pipeline'];
const wanted = process.argv.slice(2);
const names = wanted.length ? wanted : ALL;
const unknown = names.filter((n) => !ALL.includes(n));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; choose from ${ALL.join(' ')}`);
  process.exit(1);
}

const headlines: string[] = [];
for (const name of names) {
  console.log(`\n=== bench:${name} ===`);
  let last = '';
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `bench/${name}.bench.ts`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      const lines = chunk
        .toString()
        .split('\n')
        .filter((l: string) => l.trim());
      if (lines.length) last = lines[lines.length - 1]!;
    });
    child.on('exit', resolve);
  });
  headlines.push(code === 0 ? last : `bench:${name} failed (exit ${code})`);
}
console.log('\n=== headlines ===');
for (const h of headlines) console.log(h);

// Container healthcheck, plain node (no curl in the slim image). Exit 0 when healthy.
//   node deploy/healthcheck.mjs            GET /healthz on TC_HTTP_PORT (else 9464): the engine
//   node deploy/healthcheck.mjs --tcp N    a TCP connection to port N is accepted: the MLLP gateway
import net from 'node:net';

const tcp = process.argv.indexOf('--tcp');
if (tcp > 0) {
  const s = net.connect(Number(process.argv[tcp + 1]), '127.0.0.1');
  s.setTimeout(4000, () => process.exit(1));
  s.once('connect', () => process.exit(0));
  s.once('error', () => process.exit(1));
} else {
  const port = process.env.TC_HTTP_PORT || '9464';
  try {
    const r = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(4000) });
    process.exit(r.ok ? 0 : 1);
  } catch {
    process.exit(1);
  }
}

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * A Kafka broker wherever the engine runs: KAFKA_BROKERS if set, else Apache Kafka 4.x jars from Maven Central
 * (cached in .kafka/lib) started as a single-node KRaft JVM on loopback; ensureBroker also tries Docker first.
 */
export const KAFKA_VERSION = '4.1.1';
const LOG4J_VERSION = '2.24.3';

export interface LocalBroker {
  brokers: string[];
  /** SIGTERM, wait up to 15 s, then SIGKILL. Data stays for restart(). */
  stop(): Promise<void>;
  /** Stops (if running) and starts again on the same ports and data. */
  restart(): Promise<void>;
  pid(): number | undefined;
}

function hasKafkaJars(lib: string): boolean {
  return existsSync(lib) && readdirSync(lib).some((f) => f.startsWith('kafka_2.13-'));
}

/** Resolves the broker jars with Maven into <cacheDir>/lib (skipped when present). Returns the lib dir. */
export function ensureKafkaJars(cacheDir = resolve('.kafka')): string {
  const lib = join(cacheDir, 'lib');
  if (hasKafkaJars(lib)) return lib;
  mkdirSync(cacheDir, { recursive: true });
  const pom = join(cacheDir, 'pom.xml');
  writeFileSync(
    pom,
    `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>local.tc-alerts</groupId><artifactId>kafka-broker-jars</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>${LOG4J_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>${LOG4J_VERSION}</version></dependency>
  </dependencies></project>\n`,
  );
  // Resolve into a private folder and rename it into place, so parallel test processes never see a half-copied lib.
  const tmp = `${lib}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
  const r = spawnSync(
    'mvn',
    ['-q', '-B', '-f', pom, 'dependency:copy-dependencies', `-DoutputDirectory=${tmp}`, '-DincludeScope=runtime'],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (r.error || r.status !== 0)
    throw new Error(`could not resolve the Kafka ${KAFKA_VERSION} jars with mvn (is Maven installed?)`);
  try {
    renameSync(tmp, lib);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another process got there first: its lib is complete
  }
  return lib;
}

/** The cluster id of formatted KRaft storage (meta.properties), if any. */
export function storedClusterId(logDir: string): string | undefined {
  try {
    return /^cluster\.id=(.+)$/m.exec(readFileSync(join(logDir, 'meta.properties'), 'utf8'))?.[1]?.trim();
  } catch {
    return undefined;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => res(port));
    });
  });
}

/** The broker process ended before it opened its port (its last lines in the message). */
class BrokerExitedError extends Error {}

async function waitForPort(port: number, timeoutMs: number, proc: ChildProcess, tail: () => string): Promise<void> {
  const until = Date.now() + timeoutMs;
  // Output can still be in the pipes when 'exit' fires: the reason is read once they have closed.
  const closed = new Promise<void>((res) => proc.once('close', () => res()));
  for (;;) {
    if (proc.exitCode !== null) {
      await Promise.race([closed, new Promise((r) => setTimeout(r, 2_000))]);
      throw new BrokerExitedError(
        `Kafka exited with code ${proc.exitCode} before opening port ${port}: ${tail() || 'no output'}`,
      );
    }
    const ok = await new Promise<boolean>((res) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), res(true)));
      s.once('error', () => res(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`Kafka did not open port ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * How much longer than on a quiet machine things may take here: TC_TEST_TIME_SCALE when set (vitest.config.ts sets
 * it for the tests), else load per core and small machines (fewer than 4 cores), at most 4x, as the tests scale.
 */
export function machineTimeScale(): number {
  const fixed = Number(process.env.TC_TEST_TIME_SCALE);
  if (fixed > 0) return fixed;
  const cores = availableParallelism();
  return Math.min(4, Math.max(1, loadavg()[0]! / cores, 4 / cores));
}

/** A JVM broker opens its port within this on a quiet machine; scaled with the machine's load. */
const BROKER_START_MS = 90_000;

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // No orphan JVM: when Node exits, kill what we started (synchronous; SIGKILL since we cannot wait here).
  process.once('exit', () => {
    for (const p of running) if (p.exitCode === null) p.kill('SIGKILL');
  });
}

export interface StartLocalBrokerOptions {
  /** Broker data and config; default .kafka/data-<port>. */
  dataDir?: string;
  /** Client port; default a free one. */
  port?: number;
  cacheDir?: string;
  heap?: string;
  /** How long the broker may take to open its port (default 90 s times machineTimeScale()). */
  startTimeoutMs?: number;
}

export async function startLocalBroker(options: StartLocalBrokerOptions = {}): Promise<LocalBroker> {
  const lib = ensureKafkaJars(options.cacheDir);
  let port = options.port ?? (await freePort());
  let controller = await freePort();
  const dir = resolve(options.dataDir ?? join('.kafka', `data-${port}`));
  mkdirSync(dir, { recursive: true });
  const props = join(dir, 'server.properties');
  const writeProps = () =>
    writeFileSync(
      props,
      [
        'process.roles=broker,controller',
        'node.id=1',
        `controller.quorum.voters=1@127.0.0.1:${controller}`,
        `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller}`,
        `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
        'controller.listener.names=CONTROLLER',
        'inter.broker.listener.name=PLAINTEXT',
        'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
        `log.dirs=${join(dir, 'data')}`,
        'num.partitions=3',
        'auto.create.topics.enable=false',
        'offsets.topic.replication.factor=1',
        'offsets.topic.num.partitions=1',
        'transaction.state.log.replication.factor=1',
        'transaction.state.log.min.isr=1',
        'share.coordinator.state.topic.replication.factor=1',
        'share.coordinator.state.topic.min.isr=1',
        'group.initial.rebalance.delay.ms=0',
        '',
      ].join('\n'),
    );
  writeProps();
  const log4j = join(dir, 'log4j2.properties');
  writeFileSync(
    log4j,
    'rootLogger.level=WARN\nrootLogger.appenderRef.c.ref=C\nappender.c.type=Console\nappender.c.name=C\n' +
      'appender.c.layout.type=PatternLayout\nappender.c.layout.pattern=%p %m%n\n',
  );
  const cp = `${lib}/*`;
  // Formatted storage keeps its cluster id: formatting it again with a new random id makes Kafka refuse to start
  // ("Invalid cluster.id"). Reuse the stored id; a new one only for empty storage.
  const clusterId = storedClusterId(join(dir, 'data')) ?? randomBytes(16).toString('base64url');
  const fmt = spawnSync(
    'java',
    [
      '-cp',
      cp,
      'kafka.tools.StorageTool',
      'format',
      // `=` form: a base64url id may start with '-', which the tool would read as an option.
      `--cluster-id=${clusterId}`,
      '-c',
      props,
      '--ignore-formatted',
    ],
    { encoding: 'utf8' },
  );
  if (fmt.error)
    throw new Error(
      `cannot run java for the Kafka storage tool (${(fmt.error as NodeJS.ErrnoException).code ?? fmt.error.message}): is Java 17 installed and on PATH?`,
    );
  if (fmt.status !== 0) {
    const why = (fmt.stderr || fmt.stdout || '').trim().split('\n').filter(Boolean).slice(-3).join(' / ');
    throw new Error(`Kafka storage format in ${dir} failed (exit ${fmt.status}): ${why}`);
  }

  installExitHook();
  let proc: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const p = spawn(
      'java',
      [
        `-Xms128m`,
        `-Xmx${options.heap ?? '512m'}`,
        `-Dlog4j2.configurationFile=${log4j}`,
        `-Dkafka.logs.dir=${join(dir, 'logs')}`,
        '-cp',
        cp,
        'kafka.Kafka',
        props,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // The last lines the broker printed (WARN and above), to say why it stopped if it does.
    const last: string[] = [];
    const keep = (chunk: Buffer) => {
      for (const l of chunk.toString('utf8').split('\n'))
        if (l.trim() && !l.startsWith('SLF4J:')) last.push(l.trim().slice(0, 300));
      last.splice(0, Math.max(0, last.length - 5));
    };
    p.stdout!.on('data', keep);
    p.stderr!.on('data', keep);
    proc = p;
    running.add(p);
    p.once('exit', () => running.delete(p));
    // The load is read at each start: a restart under load gets the time it needs then.
    const limit = options.startTimeoutMs ?? Math.round(BROKER_START_MS * machineTimeScale());
    try {
      await waitForPort(port, limit, p, () => last.join(' / '));
    } catch (err) {
      p.kill('SIGKILL'); // a broker that did not come up in time is not left running
      throw err;
    }
  };
  const stop = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((res) => p.once('exit', () => res()));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  // A port found free can be taken by another process before the broker binds it (tests start brokers, engines
  // and servers side by side): a broker that exits at its first start is given new ports, twice at most.
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (err) {
      if (attempt >= 3 || !(err instanceof BrokerExitedError)) throw err;
      if (options.port === undefined) port = await freePort();
      controller = await freePort();
      writeProps();
    }
  }
  return {
    brokers: [`127.0.0.1:${port}`],
    stop,
    restart: async () => {
      await stop();
      await start();
    },
    pid: () => proc?.pid,
  };
}

/** Whether a Docker engine answers (testcontainers' own discovery: DOCKER_HOST, the socket, …), within timeoutMs. */
export async function dockerAvailable(timeoutMs = 5_000): Promise<boolean> {
  if (process.env.KAFKA_LOCAL === 'jvm') return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
    });
    try {
      await Promise.race([getContainerRuntimeClient(), timeout]);
    } finally {
      clearTimeout(timer);
    }
    return true;
  } catch {
    return false;
  }
}

/** Apache Kafka (the official apache/kafka image, same version as the jars) in Docker, single-node KRaft. */
export async function startDockerBroker(): Promise<{ brokers: string[]; stop(): Promise<void> }> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const hostPort = await freePort();
  const container = await new GenericContainer(`apache/kafka:${KAFKA_VERSION}`)
    .withExposedPorts({ container: 9092, host: hostPort })
    .withEnvironment({
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: 'PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093',
      KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://127.0.0.1:${hostPort}`,
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
    })
    .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
    .withStartupTimeout(120_000)
    .start();
  return {
    brokers: [`127.0.0.1:${hostPort}`],
    stop: async () => {
      await container.stop({ timeout: 10_000 });
    },
  };
}

export type BrokerSource = 'env' | 'docker' | 'local-jvm';

/**
 * A broker wherever the engine runs: KAFKA_BROKERS if set; else a Docker engine through testcontainers if one
 * answers (KAFKA_LOCAL=jvm skips it); else Kafka from Maven Central jars as a local JVM. Tells which one it used.
 */
export async function ensureBroker(
  options: StartLocalBrokerOptions = {},
): Promise<{ source: BrokerSource; brokers: string[]; stop(): Promise<void>; pid?: () => number | undefined }> {
  const env = process.env.KAFKA_BROKERS?.trim();
  if (env) return { source: 'env', brokers: env.split(',').map((b) => b.trim()), stop: async () => {} };
  if (await dockerAvailable()) return { source: 'docker', ...(await startDockerBroker()) };
  const b = await startLocalBroker(options);
  return { source: 'local-jvm', brokers: b.brokers, stop: b.stop, pid: b.pid };
}

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real single-node KRaft Kafka broker for the gateway's integration tests (Apache Kafka 4.1.1 jars from
 * Maven Central, run as a JVM process; libraries.md §3). KAFKA_BROKERS, when set, is used instead.
 * Stand-in until the shared launcher (src/kafka/broker.ts, test/helpers/kafka.ts) lands.
 */
const KAFKA_VERSION = '4.1.1';

export function kafkaLibDir(): string {
  const home = process.env.TC_KAFKA_HOME ?? join(homedir(), '.cache', 'tc-alerts', `kafka-${KAFKA_VERSION}`);
  const lib = join(home, 'lib');
  if (existsSync(lib) && readdirSync(lib).some((f) => f.startsWith('kafka_2.13'))) return lib;
  mkdirSync(home, { recursive: true });
  writeFileSync(
    join(home, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>local.test</groupId><artifactId>kafka-broker-jars</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
  </dependencies></project>`,
  );
  const r = spawnSync(
    'mvn',
    [
      '-q',
      '-B',
      '-f',
      join(home, 'pom.xml'),
      'dependency:copy-dependencies',
      `-DoutputDirectory=${lib}`,
      '-DincludeScope=runtime',
    ],
    { stdio: 'inherit' },
  );
  if (r.status !== 0) throw new Error('could not fetch the Kafka jars with mvn');
  return lib;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`Kafka did not open port ${port}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface TestBroker {
  brokers: string[];
  /** Stops the JVM (SIGTERM) and waits for it to exit; the data stays for start(). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  destroy(): Promise<void>;
}

export async function startTestBroker(): Promise<TestBroker> {
  const lib = kafkaLibDir();
  const dir = mkdtempSync(join(tmpdir(), 'tc-gw-kafka-'));
  const port = await freePort();
  const controller = await freePort();
  const props = [
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
  ].join('\n');
  writeFileSync(join(dir, 'server.properties'), props);
  writeFileSync(
    join(dir, 'log4j2.properties'),
    [
      'rootLogger.level=WARN',
      'rootLogger.appenderRef.c.ref=C',
      'appender.c.type=Console',
      'appender.c.name=C',
      'appender.c.layout.type=PatternLayout',
      'appender.c.layout.pattern=%p %m%n',
    ].join('\n'),
  );
  const cp = `${lib}/*`;
  const fmt = spawnSync(
    'java',
    [
      '-cp',
      cp,
      'kafka.tools.StorageTool',
      'format',
      '-t',
      randomBytes(16).toString('base64url'),
      '-c',
      join(dir, 'server.properties'),
      '--ignore-formatted',
    ],
    {
      encoding: 'utf8',
    },
  );
  if (fmt.status !== 0) throw new Error(`kafka storage format failed: ${fmt.stderr}`);

  let proc: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    proc = spawn(
      'java',
      [
        '-Xms128m',
        '-Xmx384m',
        `-Dlog4j2.configurationFile=${join(dir, 'log4j2.properties')}`,
        `-Dkafka.logs.dir=${join(dir, 'logs')}`,
        '-cp',
        cp,
        'kafka.Kafka',
        join(dir, 'server.properties'),
      ],
      { stdio: ['ignore', 'ignore', 'ignore'] },
    );
    await waitForPort(port, 60_000);
  };
  const stop = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  };
  await start();
  return {
    brokers: [`127.0.0.1:${port}`],
    start,
    stop,
    destroy: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

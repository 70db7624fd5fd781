import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findJava, javaMajorVersion, run } from './maven';

/** The error run() gives for `sh -c script`, which fails. */
async function failureOf(script: string, timeoutMs = 10_000): Promise<Error & { signal?: string }> {
  return run('sh', ['-c', script], { timeoutMs, label: 'sh' }).then(
    () => {
      throw new Error('expected the step to fail');
    },
    (failure: Error & { signal?: string }) => failure,
  );
}

/** The `signal` of that error. */
const signalOf = async (script: string, timeoutMs?: number) => (await failureOf(script, timeoutMs)).signal;

describe('run (maven.ts): a step interrupted by Ctrl-C is told from one that failed', () => {
  it('gives the error the signal that ended the step, or SIGINT for the 130 a JVM exits with after a Ctrl-C', async () => {
    expect(await signalOf('kill -INT $$')).toBe('SIGINT');
    expect(await signalOf('exit 130')).toBe('SIGINT');
  });

  it('gives none to a step that failed, or that this process stopped at its timeout', async () => {
    expect(await signalOf('exit 1')).toBeUndefined();
    expect(await signalOf('exec sleep 10', 200)).toBeUndefined();
  });
});

describe('run (maven.ts): what a failed step says', () => {
  // A JVM killed at the timeout exits with 143 of its own; the message said only that number.
  it('says it timed out, and after how long, when this process stopped it at its timeout (whatever it exited with)', async () => {
    expect((await failureOf("trap 'exit 143' TERM; sleep 10 & wait", 300)).message).toMatch(/^sh failed \(timed out after 0.3 s\)/);
  });

  it('gives the exit code of a step that failed on its own', async () => {
    expect((await failureOf('exit 3')).message).toMatch(/^sh failed \(3\)/);
  });
});

describe('findJava: a JDK 17 or newer', () => {
  it('reads the major version java -version tells, of the old numbering too', () => {
    expect(javaMajorVersion('openjdk version "1.8.0_392"\nOpenJDK Runtime Environment')).toBe(8);
    expect(javaMajorVersion('openjdk version "17.0.15" 2025-04-15')).toBe(17);
    expect(javaMajorVersion('java version "21" 2023-09-19 LTS')).toBe(21);
    expect(javaMajorVersion('no version here')).toBeUndefined();
  });

  // A JDK 8 in JAVA_HOME (another project's) runs Maven and Kafka; the local MongoDB server then failed, its log alone
  // telling why.
  it('refuses an older one in JAVA_HOME, naming it, and takes a newer one', () => {
    const home = mkdtempSync(join(tmpdir(), 'old-jdk-'));
    const saved = process.env.JAVA_HOME;
    try {
      mkdirSync(join(home, 'bin'));
      const fake = (version: string) => writeFileSync(join(home, 'bin', 'java'), `#!/bin/sh\necho 'openjdk version "${version}"' >&2\n`, { mode: 0o755 });
      fake('1.8.0_392');
      process.env.JAVA_HOME = home;
      expect(() => findJava()).toThrow(new RegExp(`need a JDK 17 or newer: ${join(home, 'bin', 'java')} \\(JAVA_HOME=${home}\\) is Java 8\\. Point JAVA_HOME at a JDK 17`));
      const newer = mkdtempSync(join(tmpdir(), 'new-jdk-'));
      mkdirSync(join(newer, 'bin'));
      writeFileSync(join(newer, 'bin', 'java'), `#!/bin/sh\necho 'openjdk version "21.0.2"' >&2\n`, { mode: 0o755 });
      process.env.JAVA_HOME = newer;
      expect(findJava()).toBe(join(newer, 'bin', 'java'));
      rmSync(newer, { recursive: true, force: true });
    } finally {
      if (saved === undefined) delete process.env.JAVA_HOME;
      else process.env.JAVA_HOME = saved;
      rmSync(home, { recursive: true, force: true });
    }
  });
});

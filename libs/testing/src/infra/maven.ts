import { execFile, ExecFileException, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  constants as fsConstants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { delimiter, dirname, join, relative } from 'node:path';
import { withLock } from './lock';
import { dyingWithParent, removeLeftovers } from './process';

/** Jars from Maven Central for the local servers that run on the JDK (Kafka, mongo-java-server). */

const MAVEN_GOAL = ['dependency:copy-dependencies', '-DincludeScope=runtime'];
const MAVEN_TIMEOUT_MS = 10 * 60_000;

/** Finds an executable on PATH (or returns undefined). */
export function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The JDK the local servers need: the local MongoDB server is a Java source file run as such, its jars built for 17. */
const JAVA_NEEDED = 17;
const checkedJava = new Map<string, number>();

/** The major version `java -version` tells (`"1.8.0_392"`: 8, `"17.0.9"`: 17, `"21"`: 21); undefined when it tells none. */
export function javaMajorVersion(versionOutput: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(versionOutput);
  if (!match) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] !== undefined ? Number(match[2]) : first;
}

/**
 * `$JAVA_HOME/bin/java` when JAVA_HOME is set, else `java` from PATH, if it is 17 or newer (asked once per path): an
 * older one (a JDK 8 in JAVA_HOME, left by another project) runs Maven and Kafka, and the local MongoDB server then
 * failed with its log alone to tell why.
 */
export function findJava(): string {
  const fromHome = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : undefined;
  const java = fromHome && existsSync(fromHome) ? fromHome : onPath('java');
  if (!java) {
    throw new Error(
      `The local servers need a JDK (${JAVA_NEEDED} or newer; a runtime alone cannot run the local MongoDB server, a Java source file): no \`java\` on PATH` +
        (process.env.JAVA_HOME ? ` and none in JAVA_HOME=${process.env.JAVA_HOME}` : '') +
        `. Install one, e.g. \`apt-get install openjdk-${JAVA_NEEDED}-jdk-headless\`.`,
    );
  }
  if (!checkedJava.has(java)) {
    const answer = spawnSync(java, ['-version'], { encoding: 'utf8', timeout: 30_000 });
    checkedJava.set(java, javaMajorVersion(`${answer.stderr ?? ''}${answer.stdout ?? ''}`) ?? 0);
  }
  const version = checkedJava.get(java)!;
  if (version < JAVA_NEEDED) {
    throw new Error(
      `The local servers need a JDK ${JAVA_NEEDED} or newer: ${java}${java === fromHome ? ` (JAVA_HOME=${process.env.JAVA_HOME})` : ''} is ` +
        (version ? `Java ${version}` : 'one whose version `java -version` does not tell') +
        `. Point JAVA_HOME at a JDK ${JAVA_NEEDED} or newer (or unset it, to use the \`java\` on PATH), e.g. from \`apt-get install openjdk-${JAVA_NEEDED}-jdk-headless\`.`,
    );
  }
  return java;
}

export function run(
  command: string,
  args: string[],
  options: { cwd?: string; timeoutMs: number; label: string },
): Promise<{ stdout: string; stderr: string }> {
  // Tied to this process (dyingWithParent): killed with it, the step does not run on without the timeout it kept.
  const [file, fileArgs] = dyingWithParent(command, args);
  return new Promise((resolve, reject) => {
    execFile(
      file,
      fileArgs,
      { cwd: options.cwd, env: process.env, maxBuffer: 32 * 1024 * 1024, timeout: options.timeoutMs },
      (error, stdout, stderr) => {
        if (error) {
          const output = `${stdout}${stderr}`.trim().split('\n').slice(-40).join('\n');
          // Killed at its timeout, the JVM exits with a code of its own (143 after SIGTERM): said as what it was.
          const why = error.killed ? `timed out after ${options.timeoutMs / 1000} s` : (error.code ?? error.signal ?? 'error');
          const failure = new Error(`${options.label} failed (${why}): ${command}\n${output}`);
          reject(Object.assign(failure, { signal: interruptedBy(error) }));
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}

/**
 * The signal that interrupted a step, for the scripts to tell a Ctrl-C from a failure by it (as they do for the build's
 * tsc): the step runs in the terminal's process group, so Ctrl-C ends it too. A JVM (`mvn` execs one) runs its shutdown
 * hooks and exits with 130 (128 + SIGINT) rather than by the signal. None when this process killed it (the timeout).
 */
function interruptedBy(error: ExecFileException): NodeJS.Signals | undefined {
  if (error.killed) return undefined;
  return error.signal ?? (error.code === 130 ? 'SIGINT' : undefined);
}

export function listJars(libsDir: string): string[] {
  return readdirSync(libsDir)
    .filter((name) => name.endsWith('.jar'))
    .sort()
    .map((name) => join(libsDir, name));
}

/**
 * Fetches the jars a POM lists into `libsDir` with `mvn dependency:copy-dependencies`, unless they were fetched
 * from the current POM (its SHA-256 is kept in `<libsDir>.hash`). Concurrent callers wait on a lock.
 * Returns the jars' absolute paths, sorted (the classpath).
 */
export async function ensureMavenJars({
  root,
  pom: pomPath,
  libsDir: libsPath,
  what,
  log = () => {},
}: {
  root: string;
  /** Relative to root. */
  pom: string;
  /** Relative to root. */
  libsDir: string;
  what: string;
  log?: (line: string) => void;
}): Promise<string[]> {
  const pom = join(root, pomPath);
  const libsDir = join(root, libsPath);
  const hashFile = `${libsDir}.hash`;
  const digest = createHash('sha256').update(MAVEN_GOAL.join(' ')).update('\0').update(readFileSync(pom)).digest('hex');
  const fresh = () => existsSync(libsDir) && existsSync(hashFile) && readFileSync(hashFile, 'utf8').trim() === digest;

  if (!fresh()) {
    mkdirSync(dirname(libsDir), { recursive: true });
    await withLock(
      `${libsDir}.lock`,
      async () => {
        if (fresh()) return; // another process fetched them while we waited
        const mvn = process.env.MVN ?? onPath('mvn');
        if (!mvn) {
          throw new Error(
            `Fetching the ${what} jars needs Maven: no \`mvn\` on PATH (or set MVN). Install it, e.g. \`apt-get install maven\`, ` +
              `or fill ${libsPath} by hand with \`mvn -f ${pomPath} ${MAVEN_GOAL.join(' ')} -DoutputDirectory=${libsPath}\`.`,
          );
        }
        findJava(); // Maven needs it too: fail with the clear message
        removeLeftovers(libsDir); // of a fetch killed before it could clean up (kill -9)
        const tmp = `${libsDir}.tmp-${process.pid}-${Date.now()}`;
        const started = Date.now();
        log(`fetching the ${what} jars from Maven Central into ${relative(root, libsDir)}`);
        try {
          // --strict-checksums: Maven 3 only warns when a download's checksum does not match (and -q hides the
          // warning); a jar a proxy cut short would be kept in ~/.m2 and copied here for good.
          await run(mvn, ['-q', '-B', '--strict-checksums', '-f', pom, ...MAVEN_GOAL, `-DoutputDirectory=${tmp}`], {
            cwd: root,
            timeoutMs: MAVEN_TIMEOUT_MS,
            label: `mvn -f ${pomPath} ${MAVEN_GOAL.join(' ')}`,
          });
          if (!existsSync(tmp) || listJars(tmp).length === 0) throw new Error(`mvn copied no jars into ${tmp}`);
          rmSync(hashFile, { force: true });
          rmSync(libsDir, { recursive: true, force: true });
          renameSync(tmp, libsDir);
          writeFileSync(hashFile, `${digest}\n`);
        } finally {
          rmSync(tmp, { recursive: true, force: true });
        }
        log(`fetched ${listJars(libsDir).length} ${what} jars in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      },
      log,
    );
  }
  return listJars(libsDir);
}

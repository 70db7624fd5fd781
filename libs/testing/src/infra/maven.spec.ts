import { run } from './maven';

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

import { run } from './maven';

/** The `signal` run() gives the error of `sh -c script`, which fails. */
async function signalOf(script: string, timeoutMs = 10_000): Promise<unknown> {
  const error = await run('sh', ['-c', script], { timeoutMs, label: 'sh' }).then(
    () => {
      throw new Error('expected the step to fail');
    },
    (failure: Error & { signal?: string }) => failure,
  );
  return error.signal;
}

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

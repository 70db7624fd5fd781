import { basename, dirname, join } from 'node:path';
import { PROJECT_ROOT } from './infra/resolve';
import { runDir } from './service-harness';

// A spec's own server folder lives in the run's data folder, which the next run removes whole when this one was killed
// (`.local/run/<name>-<pid>` of a dead pid). Directly under `.local/run/`, named without a pid, it stayed for good.
describe('runDir', () => {
  it("is a folder of its own inside the run's data folder, which the stale-run cleanup recognises by its pid", () => {
    const runFolder = process.env.TEST_RUN_DIR!;
    expect(dirname(runFolder)).toBe(join(PROJECT_ROOT, '.local', 'run'));
    expect(basename(runFolder)).toMatch(/-\d+$/);
    const one = runDir('spec-broker');
    expect(dirname(one)).toBe(runFolder);
    expect(basename(one)).toMatch(/^spec_broker_[0-9a-f]{10}$/);
    expect(runDir('spec-broker')).not.toBe(one);
  });
});

import { ProblemException } from '@lib/platform';
import { ValidationResultCommand } from './validation-result.command';

const command = (reasons: string[], outcome: 'APPROVED' | 'ACTION_REQUIRED' = 'ACTION_REQUIRED') =>
  ValidationResultCommand.create({ profileId: 'b1', profileKind: 'BANK', revision: 1, outcome, reasons, source: 'BACK_OFFICE' });

// A partner reads these reasons, in emails and on the profile: as Text, nothing invisible, nothing reversed.
describe('ValidationResultCommand reasons', () => {
  it('takes out control characters and bidirectional overrides, and drops reasons with nothing visible left', () => {
    expect(command(['  Name differs ', '\u202eName differs', 'Statement\u0000 missing', '\u200b', ' \u00ad ', 'Line one\nline two']).reasons).toEqual([
      'Name differs',
      'Statement missing',
      'Line one\nline two',
    ]);
  });

  it('refuses ACTION_REQUIRED whose reasons are all invisible', () => {
    expect(() => command(['\u200b', '\u202e'])).toThrow(ProblemException);
    expect(command(['\u200b'], 'APPROVED').reasons).toEqual([]);
  });
});

import { replayedFrom } from './kafka-event.server';

describe('replayedFrom: where a copy published again says its original stood', () => {
  it("takes an earlier offset of the copy's own partition", () => {
    expect(replayedFrom(Buffer.from('2:5'), 2, '120')).toBe('5');
    expect(replayedFrom('2:5', 2, '120')).toBe('5');
    expect(replayedFrom([Buffer.from('2:9007199254740993')], 2, '9007199254740999')).toBe('9007199254740993');
  });

  it('ignores another partition, an offset not before the copy, or anything malformed: the copy stands where it was read', () => {
    expect(replayedFrom('3:5', 2, '120')).toBeUndefined();
    expect(replayedFrom('2:120', 2, '120')).toBeUndefined();
    expect(replayedFrom('2:500', 2, '120')).toBeUndefined();
    for (const header of [undefined, '', '2', '2:', 'x:5', '2:5:1', '-1:5', ' 2:5']) expect(replayedFrom(header, 2, '120')).toBeUndefined();
  });
});

import { MAX_NOTED_IDS, PendingOutboxes } from './outbox';

describe('PendingOutboxes', () => {
  const namespace = 'db.noted-cap';
  afterEach(() => PendingOutboxes.take(namespace));

  it('notes ids until MAX_NOTED_IDS, then asks for a scan instead (a Kafka outage does not grow the list without bound)', () => {
    for (let i = 0; i < MAX_NOTED_IDS + 500; i++) PendingOutboxes.note(namespace, `doc-${i}`);
    const taken = PendingOutboxes.take(namespace);
    expect(taken.ids).toHaveLength(MAX_NOTED_IDS);
    expect(taken.scan).toBe(true);
    // Taken: notes start again, without a scan.
    PendingOutboxes.note(namespace, 'doc-after');
    expect(PendingOutboxes.take(namespace)).toEqual({ ids: [expect.objectContaining({ id: 'doc-after' })], scan: false });
  });

  it('a note of an id already noted neither counts twice nor asks for a scan', () => {
    for (let i = 0; i < 3; i++) PendingOutboxes.note(namespace, 'same');
    expect(PendingOutboxes.take(namespace)).toEqual({ ids: [expect.objectContaining({ id: 'same' })], scan: false });
  });
});

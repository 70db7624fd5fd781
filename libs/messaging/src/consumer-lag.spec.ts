import { partitionsBehind } from './consumer-lag';

/** Committed offsets per group and topic, as the broker would answer fetchOffsets. */
function admin(committed: Record<string, Record<string, number>>) {
  const asked: string[] = [];
  return {
    asked,
    fetchOffsets: async ({ groupId, topics }: { groupId: string; topics: string[] }) => {
      asked.push(`${groupId}: ${topics.join(', ')}`);
      return topics.map((topic) => ({ topic, partitions: [{ partition: 0, offset: String(committed[groupId]?.[topic] ?? -1) }] }));
    },
  };
}

describe('partitionsBehind', () => {
  const ends = new Map([
    ['orders:0', 10n],
    ['identity:0', 7n],
  ]);

  it('reads one group for every topic', async () => {
    const broker = admin({ svc: { orders: 10, identity: 3 } });
    expect(await partitionsBehind(broker as never, 'svc', ends)).toEqual(['identity:0']);
    expect(broker.asked).toEqual(['svc: orders, identity']);
  });

  it('reads each topic in the group that consumes it (a consumer of its own), not the service group it left', async () => {
    const broker = admin({ svc: { orders: 10, identity: 3 }, 'svc-identity': { identity: 7 } });
    const groupOf = (topic: string) => (topic === 'identity' ? 'svc-identity' : 'svc');
    expect(await partitionsBehind(broker as never, groupOf, ends)).toEqual([]);
    expect(broker.asked.sort()).toEqual(['svc-identity: identity', 'svc: orders']);
  });
});

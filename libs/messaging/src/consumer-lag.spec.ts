import { Logger } from '@nestjs/common';
import { endOffsets, GroupLagReader, partitionsBehind } from './consumer-lag';

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

describe('endOffsets', () => {
  // A quiet partition whose messages retention removed (its earliest offset is its end): nothing there is left to
  // handle, and a group that never read one commits nothing there. Counted, it kept the rollover answering 503 forever.
  it('leaves out partitions that hold no message: never written, or every message removed by retention', async () => {
    const broker = {
      fetchTopicOffsets: async () => [
        { partition: 0, low: '0', high: '0' },
        { partition: 1, low: '42', high: '42' },
        { partition: 2, low: '40', high: '42' },
        { partition: 3, low: '0', high: '5' },
      ],
    };
    expect(await endOffsets(broker as never, ['identity'])).toEqual(new Map([
      ['identity:2', 42n],
      ['identity:3', 5n],
    ]));
  });
});

describe('GroupLagReader: kafka_consumer_group_lag from the broker', () => {
  /** A broker whose admin connections take `connectMs`, holding `offsets` per partition of topic t. */
  function fakeKafka(connectMs: number, partitions: Array<{ low: string; high: string; committed: string }>) {
    const admins: Array<{ connected: boolean }> = [];
    return {
      admins,
      admin() {
        const state = { connected: false };
        admins.push(state);
        return {
          connect: () => new Promise<void>((resolve) => setTimeout(() => ((state.connected = true), resolve()), connectMs)),
          disconnect: async () => void (state.connected = false),
          fetchTopicOffsets: async () => partitions.map(({ low, high }, partition) => ({ partition, low, high, offset: high })),
          fetchOffsets: async () => [{ topic: 't', partitions: partitions.map(({ committed }, partition) => ({ partition, offset: committed })) }],
        } as never;
      },
    };
  }
  const groups = () => [{ groupId: 'g', topics: ['t'] }];

  it('counts from the committed offset, from the earliest one held where nothing is committed or retention removed it', async () => {
    const reader = new GroupLagReader(
      fakeKafka(0, [
        { low: '0', high: '10', committed: '4' },
        { low: '0', high: '10', committed: '-1' },
        { low: '8', high: '10', committed: '3' },
        { low: '0', high: '10', committed: '10' },
      ]),
      groups,
    );
    expect((await reader.read()).map(({ partition, lag }) => [partition, lag])).toEqual([
      [0, 6],
      [1, 10],
      [2, 2],
      [3, 0],
    ]);
    await reader.close();
  });

  it('leaves no admin connection behind when closed while one is still connecting (shutdown during a scrape)', async () => {
    const kafka = fakeKafka(200, [{ low: '0', high: '1', committed: '0' }]);
    const reader = new GroupLagReader(kafka, groups);
    const rows = reader.read();
    await reader.close();
    await rows.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(kafka.admins.map((admin) => admin.connected)).toEqual([false]);
  });

  it('gives no figures when the broker refuses to tell (a group ACL), and logs why', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const kafka = {
        admin: () =>
          ({
            connect: async () => undefined,
            disconnect: async () => undefined,
            fetchTopicOffsets: async () => [{ partition: 0, low: '0', high: '1', offset: '1' }],
            fetchOffsets: async () => Promise.reject(new Error('Not authorized to access group: g')),
          }) as never,
      };
      const reader = new GroupLagReader(kafka, groups);
      expect(await reader.read()).toEqual([]);
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('Not authorized to access group: g'));
      await reader.close();
    } finally {
      warn.mockRestore();
    }
  });

  it('disconnects a client whose connection failed (past its socket: a SASL refusal), and connects anew on the next read', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const clients: Array<{ disconnected: boolean }> = [];
      const kafka = {
        admin: () => {
          const client = { disconnected: false };
          clients.push(client);
          return {
            connect: async () => (clients.length === 1 ? Promise.reject(new Error('SASL authentication failed')) : undefined),
            disconnect: async () => void (client.disconnected = true),
            fetchTopicOffsets: async () => [{ partition: 0, low: '0', high: '1', offset: '1' }],
            fetchOffsets: async () => [{ topic: 't', partitions: [{ partition: 0, offset: '1' }] }],
          } as never;
        },
      };
      const reader = new GroupLagReader(kafka, groups);
      expect(await reader.read()).toEqual([]);
      await new Promise((resolve) => setImmediate(resolve));
      expect(clients).toEqual([{ disconnected: true }]);
      jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
      await jest.advanceTimersByTimeAsync(5_100); // past the 5 s an answer is kept
      await reader.read();
      expect(clients).toHaveLength(2);
      await reader.close();
    } finally {
      jest.useRealTimers();
      warn.mockRestore();
    }
  });

  it('gives no figures when the broker is slower than 2 s, and disconnects that connection once it is made', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
    try {
      const kafka = fakeKafka(8_000, [{ low: '0', high: '1', committed: '0' }]);
      const reader = new GroupLagReader(kafka, groups);
      const first = reader.read();
      await jest.advanceTimersByTimeAsync(2_000);
      expect(await first).toEqual([]);
      await jest.advanceTimersByTimeAsync(3_100); // the next scrape, past the 5 s the answer is kept
      const second = reader.read();
      await jest.advanceTimersByTimeAsync(9_000);
      await second;
      await reader.close();
      expect(kafka.admins.map((admin) => admin.connected)).toEqual([false, false]);
    } finally {
      jest.useRealTimers();
    }
  });
});

import type { Connection } from 'mongoose';
import { ModelsReady } from './models-ready';

describe('ModelsReady', () => {
  it("holds the service's start until every model's collection and indexes are ready", async () => {
    const inits: Array<() => void> = [];
    const initialised: string[] = [];
    const connection = {
      modelNames: () => ['Enrollment', 'Program'],
      model: (name: string) => ({
        init: () =>
          new Promise<void>((resolve) =>
            inits.push(() => {
              initialised.push(name);
              resolve();
            }),
          ),
      }),
    } as unknown as Connection;
    let ready = false;
    const start = new ModelsReady(connection).onModuleInit().then(() => (ready = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(inits).toHaveLength(2); // both asked at once
    inits[0]();
    await new Promise((resolve) => setImmediate(resolve));
    expect(ready).toBe(false); // one model still creating its collection
    inits[1]();
    await start;
    expect(ready).toBe(true);
    expect(initialised).toEqual(['Enrollment', 'Program']);
  });
});

import { uniqueName } from '@lib/testing';
import mongoose, { ConnectOptions, Connection, Model } from 'mongoose';
import { Enrollment, EnrollmentSchema } from '../src/enrollments/enrollment.schema';
import { EnrollmentsRepository } from '../src/enrollments/enrollments.repository';

/**
 * The enrollments collection, with its indexes, on a database of its own on the test server (real connections), for a
 * spec of the repository's queries without the service: set up before the spec's tests, dropped after them.
 */
export function enrollmentsOnTestServer(name: string, options: ConnectOptions = {}): { connection: Connection; model: Model<Enrollment>; repository: EnrollmentsRepository } {
  const on = {} as { connection: Connection; model: Model<Enrollment>; repository: EnrollmentsRepository };
  beforeAll(async () => {
    on.connection = await mongoose.createConnection(process.env.MONGO_URL!, { dbName: uniqueName(name), directConnection: true, ...options }).asPromise();
    on.model = on.connection.model(Enrollment.name, EnrollmentSchema);
    await on.model.init();
    on.repository = new EnrollmentsRepository(on.model);
  });
  afterAll(async () => {
    await on.connection?.dropDatabase();
    await on.connection?.close();
  });
  return on;
}

import { uniqueName } from '@lib/testing';
import mongoose, { Connection, Model } from 'mongoose';
import { Actor, AccessPolicy } from '../src/access.policy';
import { AccessGrant, AccessGrantSchema, AccessLocation, AccessLocationSchema, AccessUser, AccessUserSchema } from '../src/access.schemas';

// Against the test database server (real connections): the locations a caller may see, for the lists.
let connection: Connection;
let locations: Model<AccessLocation>;
let policy: AccessPolicy;

beforeAll(async () => {
  connection = await mongoose.createConnection(process.env.MONGO_URL!, { dbName: uniqueName('visible_locations'), directConnection: true }).asPromise();
  locations = connection.model(AccessLocation.name, AccessLocationSchema);
  policy = new AccessPolicy(connection.model(AccessUser.name, AccessUserSchema), locations, connection.model(AccessGrant.name, AccessGrantSchema));
  await locations.init(); // as ModelsReady does: on mongo-java-server a write racing the collection's creation can be lost
  const location = (id: string, partnerId: string) => ({ _id: id, partnerId, country: 'US', legalName: `Contoso ${id}` });
  await locations.insertMany([...['L1', 'L2', 'L3', 'L4'].map((id) => location(id, 'P1')), location('X1', 'P2')]);
});

afterAll(async () => {
  await connection.dropDatabase();
  await connection.close();
});

const actor = (roles: Actor['roles']): Actor => ({ userId: 'u1', partnerId: 'P1', email: 'u1@contoso.example', displayName: 'u1', roles });

describe('visibleLocationIds, for the lists', () => {
  it("is null (every location of the partner: the list filters by partner alone) for a company admin and a role on *, without reading the partner's locations", async () => {
    const find = jest.spyOn(locations, 'find');
    try {
      for (const roles of [[{ role: 'ACCOUNT_ADMIN' as const, locationIds: [] }], [{ role: 'INCENTIVES_ADMIN' as const, locationIds: ['*'] }]]) {
        expect(await policy.visibleLocationIds(actor(roles))).toBeNull();
      }
      expect(find).not.toHaveBeenCalled();
    } finally {
      find.mockRestore();
    }
  });

  // Also a location the view does not know yet (an enrollment recorded from an invitation before identity's LocationAdded
  // reached the service: listed to its admin as to a company admin). Every list filters by partner too, so an id of
  // another partner's location (X1, named by mistake) matches none of its rows.
  it("is the ids a user's viewing roles name, without reading the view (the lists filter by partner too)", async () => {
    const find = jest.spyOn(locations, 'find');
    try {
      const roles: Actor['roles'] = [
        { role: 'INCENTIVES_USER', locationIds: ['L3', 'X1', 'L-new'] },
        { role: 'INCENTIVES_ADMIN', locationIds: ['L2', 'L3'] },
      ];
      expect(await policy.visibleLocationIds(actor(roles))).toEqual(['L-new', 'L2', 'L3', 'X1']);
      expect(await policy.visibleLocationIds(actor([]))).toEqual([]);
      expect(find).not.toHaveBeenCalled();
    } finally {
      find.mockRestore();
    }
  });
});


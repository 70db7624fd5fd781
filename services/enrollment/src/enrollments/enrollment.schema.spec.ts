import { EnrollmentSchema } from './enrollment.schema';
import { LIST_ORDER } from './enrollments.repository';

/**
 * GET /v1/enrollments of a company or `*` admin (every location of the partner, no location filter): each filter is
 * served by an index that leads with the partner and the filter's field, then gives LIST_ORDER, so that a page is read
 * in order from the index (no sort in memory), and the enrollments of other programs, years or statuses of the partner
 * (its locations times programs times years, growing every year) are not examined to fill it.
 */
describe('the enrollment list indexes', () => {
  const declared = EnrollmentSchema.indexes().map(([keys]) => Object.keys(keys).join(','));
  const order = Object.keys(LIST_ORDER.sort);

  it.each(['programId', 'fiscalYear', 'status'])('serve ?%s= in LIST_ORDER', (field) => {
    expect(declared).toContain(['partnerId', field, ...order.filter((key) => key !== field)].join(','));
  });

  it('serve the list unfiltered, and one location, in LIST_ORDER', () => {
    expect(declared).toContain(['partnerId', ...order].join(','));
  });
});

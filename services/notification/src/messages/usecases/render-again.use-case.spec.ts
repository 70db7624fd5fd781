import { RenderAgain } from './render-again.use-case';

/** RenderAgain with fakes of the planned events, the planner and the renderer (a pure unit test). */
function renderAgain(envelope: Record<string, unknown>, findById = jest.fn(() => ({ lean: async () => ({ _id: 'e1', handOver: { topic: 'payout-profiles.events.v1', envelope } }) }))) {
  const plan = jest.fn(async (_topic: string, planned: { data: { locationIds?: string[] } }) => ({
    template: 'profile-action-required',
    recipients: [{ userId: 'u1', email: 'nia@contoso.example', displayName: 'Nia Now' }],
    context: { served: planned.data.locationIds },
    link: 'https://portal.example/p',
    recipientContext: () => ({ cannotChange: false }),
  }));
  const render = jest.fn((_template: string, context: Record<string, unknown>) => ({
    subject: 'Action required',
    text: `Hello ${context.recipientName}, serving ${String(context.served)}`,
    html: `<p>Hello ${context.recipientName}</p>`,
    inboxText: 'inbox',
  }));
  const use = new RenderAgain({ findById } as never, { plan } as never, { render } as never, { MAIL_FROM_NAME: 'Incentives' });
  return { use, plan, render };
}

const email = {
  _id: 'e1:u1:EMAIL',
  template: 'profile-action-required',
  createdAt: new Date(),
  causationEventId: 'e1',
  userId: 'u1',
  email: 'nia@contoso.example',
  displayName: 'Nia Before',
};
const bankEvent = { eventId: 'e1', type: 'ProfileActionRequired', data: { profileKind: 'BANK', profileId: 'b1', locationIds: ['L1', 'L2'] } };

describe('RenderAgain', () => {
  it('renders a renamed recipient\'s email again, as the plan finds them, the email text (not the inbox one)', async () => {
    const { use } = renderAgain(bankEvent);
    expect(await use.execute(email, { email: 'nia@contoso.example', displayName: 'Nia Now' })).toEqual({
      subject: 'Action required',
      text: 'Hello Nia Now, serving L1,L2',
      html: '<p>Hello Nia Now</p>',
    });
  });

  it("plans a narrowed bank profile's event as serving the locations it serves now (as the hand-over does)", async () => {
    const { use, plan } = renderAgain(bankEvent);
    const rendered = await use.execute(email, { email: 'nia@contoso.example', displayName: 'Nia Now' }, { stillServed: ['L2'] });
    expect(plan.mock.calls[0][1].data.locationIds).toEqual(['L2']);
    expect(rendered?.text).toBe('Hello Nia Now, serving L2');
  });

  it('leaves alone an email whose recipient is unchanged, written today, or not planned for them any more', async () => {
    const { use, plan } = renderAgain(bankEvent);
    expect(await use.execute(email, { email: 'nia@contoso.example', displayName: 'Nia Before' })).toBeUndefined();
    expect(plan).not.toHaveBeenCalled();
    expect(await use.execute({ ...email, userId: 'u2' }, { email: 'nia@contoso.example', displayName: 'Nia Now' })).toBeUndefined();
  });

  it('throws what reading the event threw (the attempt is retried, nothing recorded)', async () => {
    const failing = jest.fn(() => ({ lean: async () => Promise.reject(new Error('not primary')) }));
    const { use } = renderAgain(bankEvent, failing as never);
    await expect(use.execute(email, { email: 'nia@contoso.example', displayName: 'Nia Now' })).rejects.toThrow('not primary');
  });
});

import { mailMessageId, nameUuid } from './notification-events';

describe('message identity', () => {
  it('derives the same Message-ID for every attempt, without characters a Message-ID may not hold', () => {
    const id = 'c1f0b2a4-0000-4000-8000-000000000001:u-avery:EMAIL';
    expect(mailMessageId(id)).toBe('<c1f0b2a4-0000-4000-8000-000000000001.u-avery.EMAIL@incentives.local>');
    expect(mailMessageId(id)).toBe(mailMessageId(id));
    expect(mailMessageId('e:user <x@y>:EMAIL')).toMatch(/^<[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@incentives\.local>$/);
  });

  it('derives stable UUID-shaped event ids, different per fact', () => {
    const sent = nameUuid('m1:NotificationSent');
    expect(sent).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(nameUuid('m1:NotificationSent')).toBe(sent);
    expect(nameUuid('m1:NotificationFailed')).not.toBe(sent);
  });
});

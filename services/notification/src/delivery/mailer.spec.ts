import type { AddressInfo } from 'node:net';
import { SMTPServer, SMTPServerOptions } from 'smtp-server';
import type { NotificationConfig } from '../config';
import { describeSmtpFailure, isPermanentSmtpFailure, Mailer, mustUpgrade, namesAddress, withoutAddresses } from './mailer';

const email = {
  _id: 'e-1:u-1:EMAIL',
  email: 'ann@contoso.example.com',
  displayName: 'Ann',
  subject: 'Partner Incentive Enrollment Invitation',
  text: 'Hello',
  html: '<p>Hello</p>',
  causationEventId: 'e-1',
};

/** A real SMTP server configured for one case, and what nodemailer (through the Mailer) reports for it. */
/** An SMTP refusal as nodemailer reports it: its code, the command refused, the server's reply and its reply code. */
const refused = (code: string, command: string, response: string) =>
  Object.assign(new Error(response), { code, command, response, responseCode: Number(response.slice(0, 3)) });

async function failureFrom(options: SMTPServerOptions, credentials = '', query = ''): Promise<unknown> {
  const server = new SMTPServer({ disabledCommands: ['STARTTLS'], logger: false, ...options });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as AddressInfo;
  const mailer = new Mailer({
    SMTP_URL: `smtp://${credentials}127.0.0.1:${port}${query}`,
    NOTIFY_CONCURRENCY: 1,
    NOTIFY_SMTP_TIMEOUT_MS: 5_000,
    MAIL_FROM_NAME: 'Partner Center',
    MAIL_FROM_ADDRESS: 'no-reply@partnercenter.local',
  } as NotificationConfig);
  try {
    await mailer.send(email);
  } catch (error) {
    return error;
  } finally {
    mailer.onApplicationShutdown();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  // After the catch: an email the server accepted fails the case, never passes for its failure.
  throw new Error('the server accepted the email');
}

const refusal = (message: string, responseCode: number) => Object.assign(new Error(message), { responseCode });

describe('isPermanentSmtpFailure, on the errors nodemailer really gives', () => {
  it('retries a login refused with 535 (a rotated SMTP password must not dead-letter every email)', async () => {
    const error = await failureFrom(
      {
        authOptional: false,
        allowInsecureAuth: true,
        onAuth: (_auth, _session, callback) => callback(new Error('Authentication credentials invalid')),
      },
      'mailer:old-password@',
    );
    expect(error).toMatchObject({ code: 'EAUTH', responseCode: 535 });
    expect(isPermanentSmtpFailure(error)).toBe(false);
  });

  it('retries 530 authentication required (the session is refused, not the message)', async () => {
    const error = await failureFrom({ authOptional: false, allowInsecureAuth: true });
    expect(error).toMatchObject({ code: 'EENVELOPE', responseCode: 530 });
    expect(isPermanentSmtpFailure(error)).toBe(false);
  });

  it('gives up on a recipient refused with 5xx, and on a message refused with 5xx', async () => {
    const rcpt = await failureFrom({
      authOptional: true,
      onRcptTo: (_address, _session, callback) => callback(refusal('No such mailbox', 550)),
    });
    expect(rcpt).toMatchObject({ code: 'EENVELOPE', responseCode: 550 });
    expect(isPermanentSmtpFailure(rcpt)).toBe(true);

    const data = await failureFrom({
      authOptional: true,
      onData: (stream, _session, callback) => {
        stream.resume();
        stream.on('end', () => callback(refusal('Message refused', 554)));
      },
    });
    expect(data).toMatchObject({ code: 'EMESSAGE', responseCode: 554 });
    expect(isPermanentSmtpFailure(data)).toBe(true);
  });

  // Servers that refuse the configured sender in their own words, without an enhanced status code: failed at once, every
  // email of the queue went FAILED on its first attempt until someone fixed the configuration.
  it("retries a sender refused in other servers' words: Amazon SES's unverified identity at DATA, Exim's sender verification", async () => {
    const sender = 'no-reply@partnercenter.local';
    const ses = await failureFrom({
      authOptional: true,
      onData: (stream, _session, callback) => {
        stream.resume();
        stream.on('end', () => callback(refusal(`Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: ${sender}`, 554)));
      },
    });
    expect(ses).toMatchObject({ code: 'EMESSAGE', responseCode: 554, command: 'DATA' });
    expect(isPermanentSmtpFailure(ses)).toBe(false);
    const exim = await failureFrom({ authOptional: true, onRcptTo: (_address, _session, callback) => callback(refusal('Sender verify failed', 550)) });
    expect(exim).toMatchObject({ code: 'EENVELOPE', responseCode: 550 });
    expect(isPermanentSmtpFailure(exim)).toBe(false);
    // Any reply naming the sender is about the sender, whatever its words.
    const named = await failureFrom({ authOptional: true, onRcptTo: (_address, _session, callback) => callback(refusal(`Not allowed to send as ${sender.toUpperCase()}`, 550)) });
    expect(isPermanentSmtpFailure(named)).toBe(true);
    expect(isPermanentSmtpFailure(named, sender)).toBe(false);
    // A recipient whose address holds the sender's (channel-mailer@ for mailer@) refused as unknown: about the
    // recipient, permanent.
    const recipient = `channel-${sender}`;
    const unknown = await failureFrom({
      authOptional: true,
      onRcptTo: (_address, _session, callback) => callback(refusal(`5.1.1 <${recipient}>: Recipient address rejected: User unknown in virtual mailbox table`, 550)),
    });
    expect(unknown).toMatchObject({ code: 'EENVELOPE', responseCode: 550 });
    expect(isPermanentSmtpFailure(unknown, sender)).toBe(true);
  });

  it('tells the sender named as an address of its own, however quoted, from one inside a longer address', () => {
    const sender = 'partners@contoso.com';
    for (const reply of [`<${sender}>: Sender address rejected`, `Not allowed to send as ${sender}.`, `from=${sender} refused`, `identities failed: ${sender.toUpperCase()}`, sender]) {
      expect(namesAddress(reply, sender)).toBe(true);
    }
    for (const reply of ['<channelpartners@contoso.com>: Recipient address rejected', 'partners@contoso.com.au unknown', 'a.partners@contoso.com unknown', 'partners@contoso.community']) {
      expect(namesAddress(reply, sender)).toBe(false);
    }
  });

  it('retries a sender refused at MAIL FROM (553/550 sender not owned: the configured sender, the same for every email)', async () => {
    for (const code of [553, 550]) {
      const error = await failureFrom({
        authOptional: true,
        onMailFrom: (_address, _session, callback) => callback(refusal('Sender address rejected: not owned by user mailer@example.com', code)),
      });
      expect(error).toMatchObject({ code: 'EENVELOPE', command: 'MAIL FROM', responseCode: code });
      expect(isPermanentSmtpFailure(error)).toBe(false);
    }
  });

  it('retries a policy or relay refusal (5.7.x, 5.2.0 SendAsDenied) of a recipient or of the data: a misconfiguration, not this email', async () => {
    // The enhanced status code as the server's own text (a real server's choice, not smtp-server's mapping).
    const relay = await failureFrom({
      authOptional: true,
      hideENHANCEDSTATUSCODES: true,
      onRcptTo: (_address, _session, callback) => callback(refusal('5.7.1 Relaying denied', 550)),
    });
    expect(relay).toMatchObject({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 550, response: '550 5.7.1 Relaying denied' });
    expect(isPermanentSmtpFailure(relay)).toBe(false);

    const sendAs = await failureFrom({
      authOptional: true,
      hideENHANCEDSTATUSCODES: true,
      onData: (stream, _session, callback) => {
        stream.resume();
        stream.on('end', () => callback(refusal('5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied', 554)));
      },
    });
    expect(sendAs).toMatchObject({ code: 'EMESSAGE', command: 'DATA', responseCode: 554 });
    expect(isPermanentSmtpFailure(sendAs)).toBe(false);
  });

  it('retries a sender refused at RCPT TO (a server delaying its rejects: Postfix), told by its text or its 5.1.7/5.1.8 status', async () => {
    for (const text of ['5.1.0 <no-reply@example.com>: Sender address rejected: Domain not found', "5.1.8 Bad sender's system address"]) {
      const error = await failureFrom({
        authOptional: true,
        hideENHANCEDSTATUSCODES: true,
        onRcptTo: (_address, _session, callback) => callback(refusal(text, 550)),
      });
      expect(error).toMatchObject({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 550, response: `550 ${text}` });
      expect(isPermanentSmtpFailure(error)).toBe(false);
    }
  });

  it('still gives up on a mailbox refused at RCPT TO with 550 5.1.1', async () => {
    const error = await failureFrom({
      authOptional: true,
      hideENHANCEDSTATUSCODES: true,
      onRcptTo: (_address, _session, callback) => callback(refusal('5.1.1 No such user here', 550)),
    });
    expect(error).toMatchObject({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 550, response: '550 5.1.1 No such user here' });
    expect(isPermanentSmtpFailure(error)).toBe(true);
  });

  it('retries a recipient deferred with 4xx', async () => {
    const error = await failureFrom({
      authOptional: true,
      onRcptTo: (_address, _session, callback) => callback(refusal('Mailbox busy, try again later', 451)),
    });
    expect(error).toMatchObject({ code: 'EENVELOPE', responseCode: 451 });
    expect(isPermanentSmtpFailure(error)).toBe(false);
  });
});

describe('isPermanentSmtpFailure, by code', () => {
  const failure = (code: string, responseCode?: number) => Object.assign(new Error(code), { code, responseCode });

  it('is permanent only for a 5xx rejection of the envelope or the message, 503 and 530 excepted', () => {
    expect(isPermanentSmtpFailure(failure('EENVELOPE', 550))).toBe(true);
    expect(isPermanentSmtpFailure(failure('EENVELOPE', 553))).toBe(true);
    expect(isPermanentSmtpFailure(failure('EMESSAGE', 552))).toBe(true);
    expect(isPermanentSmtpFailure(failure('EENVELOPE', 503))).toBe(false);
    expect(isPermanentSmtpFailure(failure('EMESSAGE', 503))).toBe(false);
    expect(isPermanentSmtpFailure(failure('EENVELOPE', 530))).toBe(false);
    expect(isPermanentSmtpFailure(failure('EENVELOPE', 452))).toBe(false);
  });

  it('retries a 5xx at MAIL FROM and a 5.7.x or 5.2.0 refusal whatever the stage; keeps RCPT TO mailbox refusals permanent', () => {
    expect(isPermanentSmtpFailure(refused('EENVELOPE', 'MAIL FROM', '553 5.7.1 Sender address rejected: not owned by user'))).toBe(false);
    expect(isPermanentSmtpFailure(refused('EENVELOPE', 'MAIL FROM', '550 Sender not allowed'))).toBe(false);
    expect(isPermanentSmtpFailure(refused('EENVELOPE', 'RCPT TO', '550 5.7.1 Relaying denied'))).toBe(false);
    expect(isPermanentSmtpFailure(refused('EENVELOPE', 'RCPT TO', '554 5.7.1 <ann@contoso.example.com>: Relay access denied'))).toBe(false);
    expect(isPermanentSmtpFailure(refused('EMESSAGE', 'DATA', '554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException'))).toBe(false);
    expect(isPermanentSmtpFailure(refused('EMESSAGE', 'DATA', '550-5.7.26 Unauthenticated email is not accepted\r\n550 5.7.26 from this domain'))).toBe(false);
    expect(isPermanentSmtpFailure(refused('EENVELOPE', 'RCPT TO', '550 5.1.1 <ann@contoso.example.com>: Recipient address rejected: User unknown'))).toBe(true);
    expect(isPermanentSmtpFailure(refused('EENVELOPE', 'RCPT TO', '553 5.1.3 Bad recipient address syntax'))).toBe(true);
    expect(isPermanentSmtpFailure(refused('EENVELOPE', 'RCPT TO', '550 Mailbox unavailable'))).toBe(true);
    expect(isPermanentSmtpFailure(refused('EMESSAGE', 'DATA', '552 5.3.4 Message size exceeds fixed limit'))).toBe(true);
  });

  // The account's daily quota used up, or its sending paused: every queued email failed for good within seconds.
  it("retries the account's sending limited for a while (a quota used up, sending paused), whatever the stage", () => {
    expect(isPermanentSmtpFailure(refused('EMESSAGE', 'DATA', '550 5.4.5 Daily user sending quota exceeded. https://support.google.com/a/answer/166852'))).toBe(false);
    expect(isPermanentSmtpFailure(refused('EENVELOPE', 'RCPT TO', '550 5.1.90 Your message can\'t be sent because you\'ve reached your daily limit for message recipients'))).toBe(false);
    expect(isPermanentSmtpFailure(refused('EMESSAGE', 'DATA', '554 Message rejected: Sending paused for this account.'))).toBe(false);
    expect(isPermanentSmtpFailure(refused('EENVELOPE', 'RCPT TO', '552 Relay quota exceeded'))).toBe(false);
    // A refusal of this recipient or message stays permanent: its mailbox over its own quota, the message too large.
    expect(isPermanentSmtpFailure(refused('EENVELOPE', 'RCPT TO', '550 5.1.1 User unknown'))).toBe(true);
    expect(isPermanentSmtpFailure(refused('EENVELOPE', 'RCPT TO', '552 5.2.2 <ann@contoso.example.com>: Mailbox quota exceeded'))).toBe(true);
    expect(isPermanentSmtpFailure(refused('EMESSAGE', 'DATA', '550 5.2.2 The email account that you tried to reach is over quota'))).toBe(true);
    expect(isPermanentSmtpFailure(refused('EMESSAGE', 'DATA', '552 5.3.4 Message size limit exceeded'))).toBe(true);
  });

  it('retries session failures whatever their reply code', () => {
    expect(isPermanentSmtpFailure(failure('EAUTH', 535))).toBe(false);
    expect(isPermanentSmtpFailure(failure('EAUTH', 534))).toBe(false);
    expect(isPermanentSmtpFailure(failure('ECONNECTION', 554))).toBe(false); // EHLO refused: server terminates
    expect(isPermanentSmtpFailure(failure('EPROTOCOL', 554))).toBe(false); // greeting refused
    expect(isPermanentSmtpFailure(failure('ETLS', 554))).toBe(false);
    expect(isPermanentSmtpFailure(failure('ETIMEDOUT'))).toBe(false);
    expect(isPermanentSmtpFailure(failure('ESOCKET'))).toBe(false);
    expect(isPermanentSmtpFailure(new Error('anything else'))).toBe(false);
    expect(isPermanentSmtpFailure(undefined)).toBe(false);
  });
});

describe('withoutAddresses (what the delivery logs say of an SMTP failure)', () => {
  it('leaves out the recipient a server quotes in its refusal, as nodemailer reports it', async () => {
    const error = await failureFrom({
      authOptional: true,
      onRcptTo: (address, _session, callback) => callback(refusal(`5.1.1 <${address.address}>: Recipient address rejected`, 550)),
    });
    const reason = describeSmtpFailure(error);
    expect(reason).toContain(email.email); // stored and published as the server said it
    expect(withoutAddresses(reason)).not.toContain('contoso');
    expect(withoutAddresses(reason)).toContain('550 5.1.1 <<address>>: Recipient address rejected');
  });

  it('leaves the rest of the text as it is', () => {
    expect(withoutAddresses('EENVELOPE 450 4.2.0 jane.doe+x@mail.example.org: Greylisted, try again in 300 s')).toBe(
      'EENVELOPE 450 4.2.0 <address>: Greylisted, try again in 300 s',
    );
    expect(withoutAddresses('ETIMEDOUT Connection timeout')).toBe('ETIMEDOUT Connection timeout');
  });
});

// nodemailer upgrades with STARTTLS only when the server offers it: removed from the EHLO answer by someone on the path,
// the credentials would go in clear.
describe('the SMTP credentials are sent only over TLS', () => {
  it('requires STARTTLS for an smtp: URL with credentials to another machine; not for smtps:, none, or the loopback interface', () => {
    expect(mustUpgrade('smtp://mailer:secret@mail.contoso.example:587')).toBe(true);
    expect(mustUpgrade('smtp://mailer@10.0.0.5:25')).toBe(true);
    expect(mustUpgrade('smtps://mailer:secret@mail.contoso.example:465')).toBe(false);
    expect(mustUpgrade('smtp://mail.contoso.example:25')).toBe(false);
    for (const host of ['127.0.0.1', 'localhost', '[::1]', '127.0.1.1']) expect(mustUpgrade(`smtp://mailer:secret@${host}:1025`)).toBe(false);
    // What the transport is given; the URL's own query is applied after it (a server that cannot do TLS).
    const options = (url: string) => {
      const mailer = new Mailer({ SMTP_URL: url, NOTIFY_CONCURRENCY: 1, NOTIFY_SMTP_TIMEOUT_MS: 5_000, MAIL_FROM_NAME: 'Partner Center', MAIL_FROM_ADDRESS: 'no-reply@partnercenter.local' } as NotificationConfig);
      const { requireTLS } = (mailer as unknown as { transport: { options: { requireTLS?: boolean } } }).transport.options;
      mailer.onApplicationShutdown();
      return requireTLS;
    };
    expect(options('smtp://mailer:secret@mail.contoso.example:587')).toBe(true);
    expect(options('smtp://mailer:secret@mail.contoso.example:587?requireTLS=false')).toBe(false);
    expect(options('smtp://127.0.0.1:1025')).toBe(false);
  });

  it('sends no credentials to a server that does not offer STARTTLS when it is required (retried, not given up)', async () => {
    let authenticated = 0;
    const error = await failureFrom(
      {
        authOptional: false,
        allowInsecureAuth: true,
        onAuth: (_auth, _session, callback) => {
          authenticated++;
          callback(null, { user: 'mailer' });
        },
      },
      'mailer:secret@',
      '?requireTLS=true', // what mustUpgrade sets for another machine, here on the loopback interface of the test
    );
    expect(authenticated).toBe(0);
    expect(error).toMatchObject({ code: 'ETLS' });
    expect(isPermanentSmtpFailure(error)).toBe(false);
  });
});

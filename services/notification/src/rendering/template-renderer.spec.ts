import { ConfigError } from '@lib/platform';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTemplatesDirectory, TemplateNames, TemplateRenderer } from './template-renderer';

const renderer = new TemplateRenderer({ NOTIFY_TEMPLATES_DIR: '' });

const sample = {
  senderName: 'Partner Center',
  recipientName: 'Avery Admin',
  programLabel: 'Azure Growth FY27',
  locationLabel: 'Contoso Ltd (L-1)',
  fiscalYear: 'FY27',
  fromFiscalYear: 'FY26',
  statusLabel: 'Enrolled',
  reasons: ['Bank account holder name does not match'],
  missing: ['A tax profile for the location'],
  fiscalYearEnds: 'June 30, 2027',
  profileKindLabel: 'bank',
  profileLabel: 'Main EUR account',
  expiresOn: 'June 30, 2027',
  daysLeftLabel: 'in 30 days',
  profilesLink: 'https://portal.test/incentives/payout-and-tax',
  link: 'https://portal.test/incentives/enroll?programId=p-1&locationId=L-1',
};

describe('TemplateRenderer', () => {
  it('tells the recipient of a rejected bank profile they may not change to ask an admin of its locations, or choose another', () => {
    const shared = renderer.render('profile-action-required', { ...sample, cannotChange: true });
    expect(shared.text).toMatch(/only an Incentives admin of every location it serves can change it\. Ask one of them to correct it, or choose another bank profile/);
    expect(shared.text).toContain(`View the profile: ${sample.link}`);
    expect(shared.html).toContain('>View the profile</a>');
    expect(shared.text + shared.html).not.toContain('Update the profile');
    // The company admins, told when no Incentives admin holds its locations: they may not change it either (only an
    // Incentives admin may), and are asked to assign one (the note).
    const company = renderer.render('profile-action-required', { ...sample, companyAdminNote: 'Nobody holds the Incentives admin role.', assignLink: 'https://portal.test/assign' });
    expect(company.text).toContain(`View the profile: ${sample.link}`);
    expect(company.text + company.html).not.toMatch(/Update the profile|Ask one of them/);
    // Nobody may change it (no Incentives admin of every location it serves): not "ask one of them".
    const nobody = renderer.render('profile-action-required', { ...sample, cannotChange: true, nobodyCanChange: true });
    for (const part of [nobody.text, nobody.html]) {
      expect(part).toMatch(/Nobody holds that role on every one of them yet: ask a Global or Account admin to give it to someone, who can then correct it, or choose another bank profile/);
      expect(part).not.toContain('Ask one of them');
    }
    const theirs = renderer.render('profile-action-required', { ...sample, cannotChange: false });
    expect(theirs.text).toContain(`Update the profile: ${sample.link}`);
    expect(theirs.text + theirs.html).not.toMatch(/View the profile|only an Incentives admin/);
  });

  // Told when no Incentives admin holds the location (the note): only an Incentives admin may continue an enrollment or
  // update a tax profile, so the message asks the company admins for none of that, and links to the page to view.
  it('asks the company admins told in place of an Incentives admin for no step only an Incentives admin may take', () => {
    const company = { ...sample, companyAdminNote: 'Nobody holds the Incentives admin role.', assignLink: 'https://portal.test/assign' };
    const continuing = renderer.render('enrollment-action-required', { ...company, followsProfiles: false });
    expect(continuing.text).toContain(`View enrollment: ${sample.link}`);
    expect(continuing.text).toContain('An Incentives admin of the location completes the missing information');
    expect(continuing.html).toContain('>View enrollment</a>');
    expect(continuing.text + continuing.html).not.toMatch(/Continue enrollment|then select Continue/);
    const following = renderer.render('enrollment-action-required', { ...company, followsProfiles: true, anotherBankProfile: true });
    expect(following.text + following.html).not.toContain('You can also choose another bank profile');
    // Each step on the Payment and Tax profile page (only an Incentives admin edits profiles) named as theirs.
    for (const [name, context] of [
      ['enrollment-action-required', { followsProfiles: true }],
      ['enrollment-action-required', { followsProfiles: false }],
      ['enrollment-rejected', {}],
      ['enrollment-renewal-at-risk', { missing: ['A tax profile'], completable: true }],
    ] as const) {
      const told = renderer.render(name, { ...company, ...context });
      for (const part of [told.text, told.html]) {
        expect(part).toMatch(/An Incentives admin of the location (completes|corrects) the/);
        expect(part).not.toMatch(/(^|>)(Complete|Correct) the/m);
      }
      const own = renderer.render(name, { ...sample, ...context });
      expect(own.text).toMatch(/^(Complete|Correct) the/m);
    }
    expect(following.text).not.toMatch(/\n\n\n/);
    for (const expired of [true, false]) {
      const taxes = renderer.render('tax-profile-expiring', { ...company, expired });
      expect(taxes.text).toContain(`View the tax profile: ${sample.link}`);
      expect(taxes.html).toContain('>View the tax profile</a>');
      expect(taxes.text).toMatch(/An Incentives admin of the location needs to submit up-to-date tax forms/);
      expect(taxes.text + taxes.html).not.toMatch(/Update the tax profile|you do|\bSubmit up-to-date/);
    }
    // An Incentives admin's, as before.
    expect(renderer.render('enrollment-action-required', { ...sample, followsProfiles: false }).text).toContain(`Continue enrollment: ${sample.link}`);
    const own = renderer.render('enrollment-action-required', { ...sample, followsProfiles: true, anotherBankProfile: true });
    expect(own.text).toContain('You can also choose another bank profile');
    expect(own.text).not.toMatch(/\n\n\n/);
    expect(renderer.render('tax-profile-expiring', { ...sample, expired: false }).text).toMatch(/Submit up-to-date tax forms before then[^\n]*until you do[^]*Update the tax profile: /);
  });

  it.each(TemplateNames.map((name) => [name]))('renders %s with a subject, an HTML part and a text part', (name) => {
    const out = renderer.render(name, sample);
    expect(out.subject).toMatch(/\S/);
    expect(out.subject).not.toMatch(/[\r\n]/);
    expect(out.html).toContain('Hello Avery Admin,');
    expect(out.html).toContain('https://portal.test/');
    expect(out.text).toContain('Hello Avery Admin,');
    expect(out.text).toContain(sample.link);
    expect(out.text).not.toMatch(/{{|}}|&amp;|&#x3D;/);
  });

  it.each(TemplateNames.map((name) => [name]))('gives the inbox %s without what belongs to an email (greeting, signature), the same body', (name) => {
    const out = renderer.render(name, sample);
    expect(out.text).toContain('It is also in your Partner Center inbox.');
    expect(out.inboxText).not.toMatch(/Hello Avery Admin|It is also in your Partner Center inbox|You receive this message|^--$/m);
    expect(out.inboxText).toContain(sample.link);
    // The body is the email's, line for line.
    const body = out.text.slice(out.text.indexOf('\n\n') + 2, out.text.lastIndexOf('\n\n--\n'));
    expect(out.inboxText).toBe(`${body.trim()}\n`);
    expect(out.inboxText).not.toMatch(/^\s|\n{3,}/);
  });

  it('keeps the note to company admins in the inbox, after a blank line', () => {
    const out = renderer.render('enrollment-rejected', { ...sample, companyAdminNote: 'The location has no Incentives admin.', assignLink: 'https://portal.test/assign' });
    expect(out.inboxText).toMatch(/\S\n\nThe location has no Incentives admin\.\nAssign an Incentives admin: https:\/\/portal\.test\/assign\n$/);
    expect(out.text).toContain('--\nThe location has no Incentives admin.\nAssign an Incentives admin: https://portal.test/assign\n\nYou receive this message');
  });

  it('gives the invitation its exact subject and a Get Started button to the link', () => {
    const out = renderer.render('invitation', sample);
    expect(out.subject).toBe('Partner Incentive Enrollment Invitation');
    expect(out.html).toMatch(/<a href="https:\/\/portal\.test\/incentives\/enroll\?programId&#x3D;p-1&amp;locationId&#x3D;L-1"[^>]*>Get Started<\/a>/);
    expect(out.text).toContain(`Get Started: ${sample.link}`);
  });

  it('escapes data in the HTML part, and leaves the text part and subject unescaped', () => {
    const hostile = '<script>alert("x")</script> & Co';
    const out = renderer.render('enrollment-rejected', { ...sample, locationLabel: hostile, reasons: [hostile] });
    expect(out.html).not.toContain('<script>');
    expect(out.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co');
    expect(out.text).toContain(hostile);
    expect(out.subject).toContain(hostile);
  });

  it('keeps each value on one line in the text part and the subject: a reason cannot forge a line of its own', () => {
    const forged = 'Name differs\r\n\nGet Started: https://evil.example/enroll\u2028x';
    const out = renderer.render('enrollment-rejected', { ...sample, locationLabel: `Contoso\nLtd`, reasons: [forged] });
    expect(out.text.split('\n').filter((line) => line.includes('evil.example'))).toEqual([expect.stringMatching(/^- Name differs Get Started: https:\/\/evil\.example\/enroll x$/)]);
    expect(out.text).toContain('Contoso Ltd');
    expect(out.text).not.toMatch(/\r|\u2028/);
    expect(out.html).toContain('Name differs\r\n\nGet Started');
  });

  it('lists what is missing and why, one item per line in the text part', () => {
    const out = renderer.render('enrollment-action-required', { ...sample, missing: ['A bank profile', 'A tax profile'], reasons: [] });
    expect(out.text).toContain('What is missing:\n- A bank profile\n- A tax profile\n');
    expect(out.text).not.toContain('Details:');
    expect(out.html).toContain('<li>A bank profile</li>');
  });

  it('asks a submitted enrollment for the profile only (it takes it up by itself), and a proposal to Continue', () => {
    const follows = renderer.render('enrollment-action-required', { ...sample, followsProfiles: true });
    expect(follows.text).toContain('the enrollment takes it up by itself, without being submitted again.');
    expect(follows.text).not.toContain('Continue');
    expect(follows.html).toContain('View enrollment');
    expect(follows.html).not.toContain('Continue');
    // A currency or payment method the program does not allow: choosing another bank profile is named too.
    const anotherBank = renderer.render('enrollment-action-required', { ...sample, followsProfiles: true, anotherBankProfile: true, currencyNotAllowed: true });
    expect(anotherBank.text).toContain(
      "without being submitted again.\nYou can also choose another bank profile on the enrollment, then select Continue and Submit (a location's default bank profile cannot change its currency).\n",
    );
    expect(anotherBank.html).toContain('choose another bank profile on the enrollment, then select <strong>Continue</strong> and <strong>Submit</strong> (a location');
    // A payment method alone: no word of currencies.
    const method = renderer.render('enrollment-action-required', { ...sample, followsProfiles: true, anotherBankProfile: true });
    expect(method.text).toContain('then select Continue and Submit.\n');
    expect(method.text + method.html).not.toContain('currency');
    const proposal = renderer.render('enrollment-action-required', { ...sample, followsProfiles: false });
    expect(proposal.text).toContain('then select Continue on the enrollment.\n\nContinue enrollment: ');
    expect(proposal.html).toContain('Continue enrollment');
  });

  it('asks to complete the payout information before the year ends only where that saves the enrollment', () => {
    for (const [context, asked] of [[{ continuesWithAction: true, completable: true }, true], [{ notCompleted: true, completable: true }, true], [{}, false]] as const) {
      const out = renderer.render('enrollment-renewal-at-risk', { ...sample, ...context });
      expect(out.text.includes('Complete the information on the Payment and Tax profile page')).toBe(asked);
      expect(out.html.includes('Complete the information on the')).toBe(asked);
      expect(out.text).toContain('What is missing:');
    }
    const subject = renderer.render('enrollment-renewal-at-risk', { ...sample, continuesWithAction: true }).subject;
    expect(subject).toContain('needs action by June 30, 2027 to continue as Enrolled');
  });

  // Out of ENROLLED (its tax profile expired) or out of validation, it was submitted already.
  it.each([
    [{ wasEnrolled: true }, 'is no longer Enrolled: it needs your action to be enrolled again.'],
    [{ wasSubmitted: true }, 'needs your action before its validation can go on.'],
    [{}, 'needs your action before it can be submitted.'],
  ])('words an action-required email by what the enrollment was (%j)', (was, sentence) => {
    const out = renderer.render('enrollment-action-required', { ...sample, fromFiscalYear: undefined, ...was });
    expect(out.text).toContain(`The enrollment of Contoso Ltd (L-1) in Azure Growth FY27 (fiscal year FY27) ${sentence}`);
    expect(out.html).toContain(sentence);
  });

  // The article's (and SPEC's) name for it.
  it.each(['enrollment-action-required', 'enrollment-rejected', 'enrollment-renewal-at-risk'] as const)('%s points to the Payment and Tax profile page', (name) => {
    // Where completing the profiles saves the enrollment (renewal at risk: continued as Action required, or unfinished;
    // one that will expire for its eligibility or agreement is asked nothing: the test after).
    const out = renderer.render(name, { ...sample, completable: true });
    expect(out.text).toContain(`Payment and Tax profile page (${sample.profilesLink})`);
    expect(out.html).toContain(`<a href="${sample.profilesLink}">Payment and Tax profile</a> page`);
  });

  it('tells that a tax profile expiring takes enrollments requiring one out of Enrolled, not only their renewal', () => {
    for (const expired of [true, false]) expect(renderer.render('tax-profile-expiring', { ...sample, expired }).text).toContain('no longer Enrolled (Action required)');
  });

  // The rollover continues such an enrollment as Action required (it is not dropped), and only programs requiring a
  // tax profile are concerned.
  it('tells that at fiscal-year end those enrollments continue as Action required, not that none continues', () => {
    for (const expired of [true, false]) {
      const { text, html } = renderer.render('tax-profile-expiring', { ...sample, expired });
      expect(text).toContain('at fiscal-year end those enrollments continue into the next fiscal year as Action required, not Enrolled');
      expect(text).not.toContain('no enrollment of this location continues');
      expect(html).toContain('continue into the next fiscal year as Action required');
    }
  });
});

describe("a team's own templates (NOTIFY_TEMPLATES_DIR)", () => {
  const builtIn = join(__dirname, '..', 'templates');
  const withChange = (change: (dir: string) => void) => {
    const dir = mkdtempSync(join(tmpdir(), 'templates-'));
    cpSync(builtIn, dir, { recursive: true });
    change(dir);
    return dir;
  };

  it('load as the built-in ones when whole', () => {
    const dir = withChange(() => undefined);
    try {
      expect(new TemplateRenderer({ NOTIFY_TEMPLATES_DIR: dir }).render('invitation', sample).subject).toBe('Partner Incentive Enrollment Invitation');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Handlebars compiles on the first render: every email of that kind would fail, or go out without its layout.
  it('stop the service at start on a syntax error, or a partial no file provides, naming the file', () => {
    const broken = withChange((dir) => writeFileSync(join(dir, 'enrollment-enrolled.html.hbs'), '<p>{{#if x}}never closed</p>'));
    const noLayout = withChange((dir) => rmSync(join(dir, 'partials', 'html-layout.hbs')));
    try {
      expect(() => new TemplateRenderer({ NOTIFY_TEMPLATES_DIR: broken })).toThrow(/^Email template .*enrollment-enrolled\.html\.hbs does not compile/);
      expect(() => new TemplateRenderer({ NOTIFY_TEMPLATES_DIR: noLayout })).toThrow(/^Email template .*\.html\.hbs uses partial\(s\) html-layout: no partials\/<name>\.hbs provides it/);
    } finally {
      rmSync(broken, { recursive: true, force: true });
      rmSync(noLayout, { recursive: true, force: true });
    }
  });
});

describe('findTemplatesDirectory', () => {
  const builtIn = join(__dirname, '..', 'templates');

  it('uses the configured folder when it holds the templates', () => {
    expect(findTemplatesDirectory(builtIn)).toBe(builtIn);
  });

  // A typo or a mount in the wrong place: the built-in templates would otherwise go out unnoticed.
  it('stops the service when the configured folder holds no templates, rather than fall back to the built-in ones', () => {
    const empty = mkdtempSync(join(tmpdir(), 'templates-'));
    try {
      // A ConfigError: the service stops with this one line (runService), not a stack trace.
      expect(() => findTemplatesDirectory(empty)).toThrow(new ConfigError(`Invalid configuration: NOTIFY_TEMPLATES_DIR=${empty} holds no email templates (invitation.subject.hbs not found)`));
      expect(() => findTemplatesDirectory(empty)).toThrow(ConfigError);
      expect(() => findTemplatesDirectory(join(empty, 'missing'))).toThrow(/holds no email templates/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('finds the built-in templates when none is configured', () => {
    expect(existsSync(join(findTemplatesDirectory(''), 'invitation.subject.hbs'))).toBe(true);
  });
});

import { sameText } from '@lib/contracts';
import { isDuplicateKey, pushOutbox } from '@lib/messaging';
import { Clock, FieldProblem, Principal, Problems } from '@lib/platform';
import { Injectable, Logger } from '@nestjs/common';
import { isDeepStrictEqual } from 'node:util';
import { comparable } from '../../common/comparable';
import { DefaultClaims } from '../../default-bank-profiles/default-claims';
import { describeLocations, PayoutAccess } from '../../profiles/payout-access';
import { servedLocations, serves } from '../../profiles/permissions';
import { ProfileEvents } from '../../profiles/profile-events';
import { duplicateName, throwIfProblems } from '../../profiles/problems';
import { maskSecret } from '../../secrets/masking';
import { SecretBox, superseded } from '../../secrets/secret-box';
import { checkBankAccount, CheckedAccount } from '../bank-account-rules';
import { BankProfile, nameKey } from '../bank-profile.schema';
import { beneficiaryProblems, beneficiaryTexts, secretInTextProblems } from '../bank-profile-rules';
import { BankProfilesRepository } from '../bank-profiles.repository';
import { UpdateBankProfileDto } from '../dto/bank-profile.dto';

const ATTEMPTS = 5;

/**
 * Changes a bank profile (If-Match). A real change of its details is a new revision, pending validation, published
 * with a validation request; the same details sent again change nothing, except on a profile the back office sent back
 * (`ACTION_REQUIRED`), which they submit again as a new revision. Bad input changes nothing either. A change of
 * `locationIds` alone is no new revision (the details validated are the same): ProfileUpdated, same revision and status.
 *
 * Only an Incentives admin of every location the profile serves edits it (of every location, for one serving '*' or
 * stored before `locationIds` existed), and of every location it is to serve after the change.
 * A profile that is the default of locations is edited only by an Incentives admin of each of them, keeps its currency
 * while it is a default, and keeps serving them. All three are read from the profile's own list of defaults
 * (DefaultClaims), and the write is guarded by it: a location that claims the profile meanwhile makes the write miss,
 * and the checks run again.
 */
@Injectable()
export class UpdateBankProfile {
  private readonly logger = new Logger(UpdateBankProfile.name);

  constructor(
    private readonly access: PayoutAccess,
    private readonly profiles: BankProfilesRepository,
    private readonly claims: DefaultClaims,
    private readonly secrets: SecretBox,
    private readonly events: ProfileEvents,
    private readonly clock: Clock,
  ) {}

  async execute(principal: Principal, profileId: string, expectedVersion: number, input: UpdateBankProfileDto): Promise<BankProfile> {
    const actor = await this.access.bankManager(principal);
    let found = await this.profiles.findForPartner(actor.partnerId, profileId);
    if (!found) throw Problems.notFound(`Bank profile ${profileId}`);
    let nextLocations: string[] | undefined;
    for (let attempt = 1; ; attempt++) {
      const { profile: current, locationIds: defaultOf, claims } = await this.claims.holders(found);
      const served = servedLocations(current);
      // First whether they may read it: the answers below name the locations it serves and is default for.
      this.access.bankProfileReader(actor, profileId, served);
      this.access.bankProfileEditor(actor, profileId, defaultOf);
      this.access.bankProfileServer(actor, profileId, served);
      // After the role checks: a caller who may not edit the profile gets 403 whatever If-Match says, never its version.
      if (current.version !== expectedVersion) throw Problems.preconditionFailed(current.version);
      if (input.locationIds && !nextLocations) nextLocations = await this.access.servableLocations(actor, input.locationIds);
      const change = this.change(current, input, nextLocations, defaultOf, actor.userId);
      if (!change) return current;

      const { changes, updated, newRevision } = change;
      const events = newRevision
        ? this.events.newRevision('BANK', 'ProfileUpdated', updated)
        : [this.events.lifecycle('BANK', 'ProfileUpdated', updated)];
      try {
        const written = await this.profiles.updateForPartner(
          actor.partnerId,
          profileId,
          { version: expectedVersion, defaultClaims: claims },
          { $set: changes, $push: pushOutbox(events) },
        );
        if (written) {
          this.events.committed();
          return updated;
        }
      } catch (error) {
        if (isDuplicateKey(error)) throw duplicateName();
        throw error;
      }
      // The write missed: the profile changed (412 above, on the next pass) or, at the same version, a location
      // claimed it as its default meanwhile (checked again with that claim).
      const latest = await this.profiles.findForPartner(actor.partnerId, profileId);
      if (!latest) throw Problems.notFound(`Bank profile ${profileId}`);
      if (latest.version === expectedVersion && attempt >= ATTEMPTS) throw Problems.busy(`The defaults of bank profile ${profileId} are changing; retry.`);
      found = latest;
    }
  }

  /**
   * The write a change needs (and whether it is a new revision), or null when what was sent is what is stored. Throws
   * for bad input. `locations`: the checked `locationIds` of the request.
   */
  private change(current: BankProfile, input: UpdateBankProfileDto, locations: string[] | undefined, defaultOf: string[], userId: string) {
    const profileId = current._id;
    if (Object.values(input).every((v) => v === undefined)) {
      throw Problems.field('body', 'must change at least one of name, country, currency, paymentMethod, account, beneficiary, locationIds');
    }
    const country = input.country ?? current.country;
    const paymentMethod = input.paymentMethod ?? current.paymentMethod;
    const beneficiary = input.beneficiary ? JSON.parse(JSON.stringify(input.beneficiary)) : current.beneficiary;
    const problems: FieldProblem[] = [];
    let account: CheckedAccount | undefined;
    if (input.account) {
      const checked = checkBankAccount(country, { ...input.account });
      problems.push(...checked.problems);
      account = checked.account;
    } else if (country !== current.country) {
      problems.push({ field: 'account', message: `is required when the bank account country changes (to ${country})` });
    }
    problems.push(...beneficiaryProblems(paymentMethod, beneficiary));
    // Names sent are checked against the account in force; an account sent, the names in force against it (a name
    // stored before this check, not sent, is left alone otherwise).
    if (input.name !== undefined || input.beneficiary || account) {
      const secret = account?.secret ?? this.secrets.openIfAvailable(current.sealedAccount, `${profileId}:account`);
      // A stored account that does not open (its key removed from PAYOUT_ENCRYPTION_KEYS) cannot be looked for in a new
      // name, which events and emails carry in clear: the change comes with the account (which replaces it), or waits
      // for the key to be put back.
      const storedTexts = new Map(beneficiaryTexts(current.beneficiary));
      const renamed =
        (input.name !== undefined && !sameText(input.name, current.name)) ||
        // (A text left out or removed shows nothing new: not a change to check.)
        (input.beneficiary !== undefined && beneficiaryTexts(input.beneficiary).some(([field, text]) => !!text && !sameText(text, storedTexts.get(field) ?? '')));
      // (Sent with an account that has problems: those are the answer, a 400 naming its fields.)
      if (secret === undefined && renamed && !input.account) {
        this.logger.warn(`bank profile ${profileId}: its stored account does not open; a change of its names or beneficiary's texts was refused unless the account is sent with it`);
        throw Problems.conflict(
          `The stored account of bank profile ${profileId} cannot be read to check the new names (or the beneficiary's email and address) against it; send the account with this change.`,
          { errors: [{ field: 'account', message: 'is required with a new name, beneficiary email or address while the stored account cannot be read' }] },
        );
      }
      const names: Array<[string, string | undefined]> = account
        ? [['name', input.name ?? current.name], ...beneficiaryTexts(beneficiary), ['account.bankName', account.identifiers.bankName]]
        : [['name', input.name], ...(input.beneficiary ? beneficiaryTexts(input.beneficiary) : [])];
      // The account sent, whole (its author knows it); the stored one, which its caller is shown masked, by the last four
      // the API shows of it only (StoredSecret: compared whole, the answer would tell whether a name sent held it).
      problems.push(...secretInTextProblems(account ? account.secret : { stored: secret }, names));
    }
    throwIfProblems(problems);

    const currency = input.currency ?? current.currency;
    if (currency !== current.currency && defaultOf.length) {
      throw Problems.conflict(
        `This bank profile is the default of location(s) ${defaultOf.join(', ')} in ${current.currency}; ` +
          'assign another default there (or remove it) before changing its currency.',
        { errors: [{ field: 'currency', message: 'cannot change while the profile is a default bank profile' }] },
      );
    }

    const served = servedLocations(current);
    const locationsChanged = !!locations && !isDeepStrictEqual(locations, served);
    const leftOut = locationsChanged ? defaultOf.filter((locationId) => !serves(locations!, locationId)) : [];
    if (leftOut.length) {
      throw Problems.conflict(
        `This bank profile is the default bank profile of ${describeLocations(leftOut)}, which the new locationIds leave out; ` +
          'assign another default there (or remove it) before the profile stops serving them.',
        { errors: [{ field: 'locationIds', message: 'must keep serving the locations whose default bank profile this is' }] },
      );
    }

    const details = {
      name: input.name ?? current.name,
      country,
      currency,
      paymentMethod,
      beneficiary,
      scheme: account?.scheme ?? current.scheme,
      bankIdentifiers: account?.identifiers ?? current.bankIdentifiers,
      secretField: account?.secretField ?? current.secretField,
    };
    // An account sent is a new revision, whether or not it is the stored one: answered as no change when it is, the
    // answer would tell an editor shown ****3000 whether a guess was the account (one PATCH a guess). A stored account
    // that does not open (its key removed) is replaced by it as well. The stored one is opened for the digest kept of
    // an account replaced (supersededSecrets).
    const stored = account && this.secrets.openIfAvailable(current.sealedAccount, `${profileId}:account`);
    const before = pick(current, Object.keys(details) as Array<keyof typeof details>);
    // A null stored before nulls were refused (`phone: null`) is the field left out: the same details.
    const sameDetails = !account && isDeepStrictEqual(comparable(details), comparable(before));
    // Details sent again for a profile the back office sent back (Action required) submit it again: a new revision,
    // validated anew (the reason may have been on the validator's side, e.g. a document it could not read).
    const newRevision = !sameDetails || (current.status === 'ACTION_REQUIRED' && sendsDetails(input));
    if (!newRevision && !locationsChanged) return null;

    const now = this.clock.now();
    const changes = {
      ...(newRevision && {
        ...details,
        // The key the name is compared by, written when a name is sent: a key stored before nameKey changed (NFKC,
        // runs of spaces) stays until then, so an edit of anything else neither makes a new revision of it nor
        // collides with another profile's key that only the new rule makes equal (409 on a name nobody sent).
        ...(input.name !== undefined && { nameKey: nameKey(details.name) }),
        ...(account && {
          sealedAccount: this.secrets.seal(account.secret, `${profileId}:account`),
          maskedAccount: maskSecret(account.secret),
        }),
        // The replaced account, recognisable (not readable) when a late result for an older revision quotes it.
        ...(account && stored && stored !== account.secret && { supersededSecrets: superseded(current.supersededSecrets, [this.secrets.digest(stored)]) }),
        status: 'PENDING_VALIDATION' as const,
        reasons: [],
        revision: current.revision + 1,
        revisedAt: now,
      }),
      ...(locationsChanged && { locationIds: locations }),
      version: current.version + 1,
      updatedBy: userId,
      updatedAt: now,
    };
    return { changes, updated: { ...current, ...changes } as BankProfile, newRevision };
  }
}

/** Whether a PATCH sends any of the validated details (anything but `locationIds`). */
function sendsDetails(input: UpdateBankProfileDto): boolean {
  return Object.entries(input).some(([field, value]) => field !== 'locationIds' && value !== undefined);
}

function pick<T extends object, K extends keyof T>(source: T, keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, source[k]])) as Pick<T, K>;
}

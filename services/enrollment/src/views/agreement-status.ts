import { laterDecision } from '@lib/contracts';
import { AgreementStatus, AgreementView } from './views.schemas';

/** How many statuses a partner's agreement view keeps besides its current one (AgreementView.earlier). */
export const AGREEMENT_HISTORY = 24;

const samePosition = (a: AgreementStatus['position'], b: AgreementStatus['position']) =>
  !a || !b || (a.partition === b.partition && a.offset === b.offset);

const sameStatus = (a: AgreementStatus, b: AgreementStatus) => +a.changedAt === +b.changedAt && a.active === b.active && samePosition(a.position, b.position);

/**
 * A partner's statuses, newest first, with `status` in its place: by `changedAt`, then, at the same instant, by where
 * each was read (laterDecision: a redelivered earlier change does not pass a later one). Null when it changes nothing:
 * the same status again (a redelivery, a replay), or one older than every status kept when the history is full.
 */
export function withAgreementStatus(statuses: AgreementStatus[], status: AgreementStatus): AgreementStatus[] | null {
  if (statuses.some((kept) => sameStatus(kept, status))) return null;
  const fact = (s: AgreementStatus) => ({ decidedAt: s.changedAt, position: s.position ?? undefined });
  const at = statuses.findIndex((kept) => laterDecision(fact(status), fact(kept)));
  const index = at === -1 ? statuses.length : at;
  if (index > AGREEMENT_HISTORY) return null;
  return [...statuses.slice(0, index), status, ...statuses.slice(index)].slice(0, AGREEMENT_HISTORY + 1);
}

/** A view's statuses, newest first. */
export function agreementStatuses(view: AgreementView): AgreementStatus[] {
  return [{ active: view.active, changedAt: view.changedAt, position: view.position }, ...(view.earlier ?? [])];
}

/**
 * Whether the partner's agreement was active at `at` (undefined: now, its current status, whatever instant an outside
 * clock stamped it with): the newest status changed by then. A partner never heard of by then counts as active (the
 * agreements system publishes changes; README "agreement active"). When the view let older statuses go
 * (AGREEMENT_HISTORY) and every one it kept came after `at`, the status then is not known: the oldest kept stands for it.
 */
export function agreementActiveAt(view: AgreementView | undefined, at?: Date): boolean {
  if (!view) return true;
  if (!at) return view.active;
  const statuses = agreementStatuses(view);
  const inForce = statuses.find((status) => +status.changedAt <= +at);
  if (inForce) return inForce.active;
  return statuses.length > AGREEMENT_HISTORY ? statuses[statuses.length - 1].active : true;
}

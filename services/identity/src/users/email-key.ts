/**
 * An email as compared (unique per partner): trimmed, lower case, in Unicode's composed form (NFC), so `josé@` typed
 * with a combining accent is the same user as with the precomposed letter. Keys stored before NFC was applied differ
 * only for addresses that were not NFC already.
 */
export const emailKey = (email: string) => email.normalize('NFC').trim().toLowerCase();

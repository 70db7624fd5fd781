/**
 * An identifier as typed or pasted (account numbers, IBANs, BICs, tax ids): full-width characters as theirs, blanks
 * (no-break spaces too) and any dash dropped, and the characters of `dropAlso` too; upper case. Nothing else NFKC would
 * change (a superscript footnote mark `¹` stays, and the identifier's own check refuses it), and no other separator (a
 * slash or a comma may join two values).
 */
export function typedIdentifier(value: string, dropAlso = ''): string {
  const folded = value.replace(/[\uFF01-\uFF5E]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0));
  const kept = [...folded.replace(/[\s\p{Pd}\u2212]/gu, '')].filter((c) => !dropAlso.includes(c));
  return kept.join('').toUpperCase();
}

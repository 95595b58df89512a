/**
 * True when `text` has no lone surrogate. UTF-8 cannot encode one: Buffer writes it as U+FFFD,
 * so a stored key, row or item would silently read back different from what was appended.
 * String.prototype.isWellFormed (Node 20+, ES2024; the lib here is ES2023) costs ~10 ns for a
 * 200-character string, a tenth of the Buffer.byteLength every item pays already.
 */
export function isWellFormedText(text: string): boolean {
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed()
}

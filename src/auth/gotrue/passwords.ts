// Password and email rules, and bcrypt the way GoTrue stores `auth.users.encrypted_password` (cost 10), so
// users move between bbb and Supabase Auth with their passwords intact.
import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { isCommonPassword } from './common-passwords.ts';
import { GotrueError, validationFailed } from './errors.ts';

const BCRYPT_COST = 10;
export const MIN_PASSWORD_LENGTH = 8;
// bcrypt reads only the first 72 bytes; a longer password would silently match any with the same start.
const MAX_PASSWORD_BYTES = 72;
const MAX_EMAIL_LENGTH = 255;
// What GoTrue accepts: something@domain.tld, no spaces; deliverability is the mailer's problem, not ours.
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;
// Users made elsewhere may have no password (OAuth, invites) or another scheme: those never match.
const BCRYPT_HASH = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

/** The lowercased address, or a 400 GoTrue would give. */
export function normaliseEmail(raw: string): string {
  const email = raw.trim().toLowerCase();
  if (!EMAIL.test(email) || email.length > MAX_EMAIL_LENGTH) {
    throw validationFailed('Unable to validate email address: invalid format');
  }
  return email;
}

// GoTrue's 422 weak_password: auth-js turns it into AuthWeakPasswordError with these reasons.
const weak = (reason: 'length' | 'pwned', message: string) =>
  new GotrueError(422, 'weak_password', message, { body: { weak_password: { reasons: [reason] } } });

export function checkPasswordStrength(password: string): void {
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    throw validationFailed(`Password cannot be longer than ${MAX_PASSWORD_BYTES} characters`);
  }
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw weak('length', `Password should be at least ${MIN_PASSWORD_LENGTH} characters.`);
  }
  if (isCommonPassword(password)) {
    // GoTrue's wording for a HaveIBeenPwned hit.
    throw weak('pwned', 'Password is known to be weak and easy to guess, please choose a different one.');
  }
}

export function hashPassword(password: string): Promise<string> {
  return bcrypt.hash(password, BCRYPT_COST);
}

// A hash of a random password no one knows: unknown emails are checked against it, so a wrong email takes as
// long to refuse as a wrong password. Made on first use, not at import, to keep CLI start-up quick.
let dummyHash: Promise<string> | undefined;

/**
 * True only when `hash` is a bcrypt hash of `password`. Always runs one bcrypt comparison (against the dummy
 * hash when there is no stored one); bcryptjs compares the digests in constant time.
 */
export async function verifyPassword(password: string, hash: string | null | undefined): Promise<boolean> {
  dummyHash ??= hashPassword(randomBytes(18).toString('base64url'));
  const stored = hash && BCRYPT_HASH.test(hash) ? hash : undefined;
  const ok = await bcrypt.compare(password, stored ?? (await dummyHash));
  return ok && stored !== undefined;
}

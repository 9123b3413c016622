// The passwords people pick most, refused at sign-up the way GoTrue refuses HaveIBeenPwned hits (reason
// "pwned"), but offline: common-passwords.txt ships with bbb. It holds the 5,000 most frequent passwords of
// 8 or more characters (shorter ones are refused for length anyway), lowercased, in frequency order, taken
// from the password list in @zxcvbn-ts/language-common 4.1.3 (MIT), itself drawn from public breach
// corpora. Comparison ignores case, so "Password1" counts as "password1". Read once, on first use, so
// commands that never sign anyone up do not pay for it.
import { readFileSync } from 'node:fs';

const FILE = new URL('./common-passwords.txt', import.meta.url);

let list: Set<string> | undefined;

export function isCommonPassword(password: string): boolean {
  list ??= new Set(readFileSync(FILE, 'utf8').split('\n').filter(Boolean));
  return list.has(password.toLowerCase());
}

// The server's workers never connect to private, loopback or link-local addresses (the SSRF guard checks at
// connect time, after DNS). A job whose URL names such an address outright would only fail page by page, so
// it is refused when submitted, with the way out. Names that resolve to such addresses are still caught by
// the guard; this early check is a courtesy, never the protection.
import { isIP } from 'node:net';
import { isBlockedAddress, socketHost } from '../../crawler/ssrf.ts';
import { ApiError } from '../errors.ts';

/** For the job service's `checkRoot`: throws for a root URL the server's workers would never fetch. */
export function assertPublicTarget(rootUrl: string): void {
  const host = socketHost(new URL(rootUrl).hostname);
  const local = host === 'localhost' || host.endsWith('.localhost');
  if (local || (isIP(host) !== 0 && isBlockedAddress(host))) {
    throw new ApiError(
      400,
      'private_target',
      `${host} is a private or loopback address, which the server does not crawl; ` +
        'crawl internal sites with `npx bbb crawl <url>` on your own network',
    );
  }
}

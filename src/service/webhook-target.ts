import { lookup as dnsLookup } from 'node:dns';
import { lookup as dnsLookupAll } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { ProbityError } from '../errors.js';

/**
 * Where a review webhook may be sent. A callback URL is chosen by the client, so without a
 * check the service would POST resolved cases to the operator's own network (loopback, the
 * cloud metadata address, private ranges): server-side request forgery. Only public unicast
 * addresses are allowed, every address a name resolves to is checked, and the connection is
 * made to the address that was checked (no second lookup a rebinding DNS server could answer
 * differently). The operator may allow private destinations (a receiver on the same host or
 * network) with `allowPrivateNetworks`; only then may the URL be plain http.
 */
export interface WebhookTargetPolicy {
  allowPrivateNetworks: boolean;
}

/** Why an address is refused, or undefined when it is a public unicast address. */
export function refusedAddressKind(address: string): string | undefined {
  if (!ipaddr.isValid(address)) return 'not an IP address';
  // Written out by the URL parser first: ipaddr.js reads ::8.8.8.8 as IPv4-mapped, the kernel as IPv4-compatible.
  const raw = ipaddr.parse(address.includes(':') ? new URL(`http://[${address.split('%')[0]}]`).hostname.slice(1, -1) : address);
  // The deprecated IPv4-compatible form (::7f00:1, ::10.0.0.1) is refused whatever it carries:
  // ipaddr.js calls it unicast, and no public receiver needs it.
  if (raw.kind() === 'ipv6' && (raw as ipaddr.IPv6).parts.slice(0, 6).every((p) => p === 0) && !['unspecified', 'loopback'].includes(raw.range())) {
    return 'IPv4-compatible IPv6 (deprecated; it carries an IPv4 address)';
  }
  // IPv4-mapped IPv6 (::ffff:127.0.0.1) is the IPv4 address it carries.
  const ip = ipaddr.process(address);
  const range = ip.range();
  if (range !== 'unicast') return range;
  // ipaddr.js names only the special ranges it knows; only the global unicast block is routed
  // on the public internet, so nothing outside it is let through.
  if (ip.kind() === 'ipv6' && !ip.match(GLOBAL_UNICAST_V6)) return 'outside the IPv6 global unicast block 2000::/3';
  return undefined;
}

const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

const refuse = (url: string, why: string) =>
  new ProbityError('callback_url_refused', `callbackUrl ${url} is refused: ${why}`);

/**
 * Checks a callback URL at the time it is given (identify) and again before each delivery.
 * Decimal, hexadecimal and octal IPv4 forms are normalised by the URL parser first
 * (http://2130706433/ and http://0x7f.1/ are 127.0.0.1).
 */
export async function checkCallbackUrl(raw: string, policy: WebhookTargetPolicy): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse(raw, 'it is not a URL');
  }
  const shown = `${url.protocol}//${url.host}`;
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refuse(shown, 'only https is allowed');
  if (url.username || url.password) throw refuse(shown, 'credentials in the URL are not allowed');
  if (policy.allowPrivateNetworks) return url;
  if (url.protocol !== 'https:') throw refuse(shown, 'only https is allowed (the operator has not allowed private receivers, where plain http would be accepted)');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await dnsLookupAll(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch (e) {
      throw refuse(shown, `its host does not resolve (${(e as NodeJS.ErrnoException).code ?? 'lookup failed'})`);
    }
  }
  if (addresses.length === 0) throw refuse(shown, 'its host resolves to no address');
  for (const a of addresses) {
    const kind = refusedAddressKind(a);
    if (kind) throw refuse(shown, `it points to ${a}, a ${kind} address; only public addresses are allowed unless the operator allows private receivers (--webhook-allow-private, PROBITY_WEBHOOK_ALLOW_PRIVATE=1)`);
  }
  return url;
}

/**
 * A `lookup` for http.request that resolves the host once, refuses the connection if any
 * address is not allowed, and connects to the addresses it checked.
 */
export function guardedLookup(policy: WebhookTargetPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => {
      if (err) return callback(err, []);
      if (!policy.allowPrivateNetworks) {
        const bad = addresses.find((a) => refusedAddressKind(a.address));
        if (bad) {
          const e: NodeJS.ErrnoException = new Error(`${hostname} resolves to ${bad.address}, a ${refusedAddressKind(bad.address)} address`);
          e.code = 'EWEBHOOKTARGET';
          return callback(e, []);
        }
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} resolves to no address`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}

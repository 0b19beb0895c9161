// Format checks that replace ajv-formats' where its "full" mode departs from the RFCs JSON Schema 2020-12 names
// (section 7.3). Each is written from the RFC's ABNF; README.md lists every departure and the vectors behind it.

import { isIPv4, isIPv6 } from "node:net";

// --- date-time and date: RFC 3339 section 5.6 ---------------------------------------------------------------------

// ajv-formats accepts a space between date and time and an offset without a colon ("+0100"); RFC 3339's ABNF has
// neither ("T" / "t" only, as its section 5.6 note allows case-insensitively; time-numoffset = ("+" / "-")
// time-hour ":" time-minute).
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
const DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeap(year) {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

function validDate(y, m, d) {
  return m >= 1 && m <= 12 && d >= 1 && d <= (m === 2 && isLeap(y) ? 29 : DAYS[m]);
}

export function dateTime(value) {
  const m = DATE_TIME.exec(value);
  if (m === null) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const offH = m[8] === undefined ? 0 : Number(m[8]);
  const offM = m[9] === undefined ? 0 : Number(m[9]);
  if (!validDate(year, month, day) || hour > 23 || minute > 59 || second > 60 || offH > 23 || offM > 59) return false;
  if (second === 60) {
    // RFC 3339 section 5.7: a leap second is 23:59:60 UTC; take the offset off the local time to get there.
    const sign = m[7] === "-" ? -1 : 1;
    const utc = (((hour * 60 + minute - sign * (offH * 60 + offM)) % 1440) + 1440) % 1440;
    return utc === 23 * 60 + 59;
  }
  return true;
}

export function fullDate(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  return m !== null && validDate(Number(m[1]), Number(m[2]), Number(m[3]));
}

// --- uuid: RFC 4122 section 3, the string representation -----------------------------------------------------

// ajv-formats also accepts the URN namespace form ("urn:uuid:..."), which is a URN, not the string representation.
export function uuid(value) {
  return /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(value);
}

// --- uri: RFC 3986 section 3 (URI, not URI-reference) ---------------------------------------------------------

// ajv-formats' "uri" lets a non-numeric port through ("https://a.b:port/") and refuses an empty hier-part
// ("https:", which RFC 3986's path-empty allows).
const UNRESERVED = "A-Za-z0-9\\-._~";
const SUB_DELIMS = "!$&'()*+,;=";
const PCT = "%[0-9A-Fa-f]{2}";
const PCHAR = `(?:[${UNRESERVED}${SUB_DELIMS}:@]|${PCT})`;
const SEGMENT = `${PCHAR}*`;
const SEGMENT_NZ = `${PCHAR}+`;
const USERINFO = `(?:[${UNRESERVED}${SUB_DELIMS}:]|${PCT})*`;
const REG_NAME = `(?:[${UNRESERVED}${SUB_DELIMS}]|${PCT})*`;
const IP_LITERAL = "\\[([^\\]/?#@]*)\\]";
const AUTHORITY = `(?:${USERINFO}@)?(?:${IP_LITERAL}|${REG_NAME})(?::[0-9]*)?`;
const PATH_ABEMPTY = `(?:/${SEGMENT})*`;
const PATH_ABSOLUTE = `/(?:${SEGMENT_NZ}(?:/${SEGMENT})*)?`;
const PATH_ROOTLESS = `${SEGMENT_NZ}(?:/${SEGMENT})*`;
const HIER_PART = `(?://${AUTHORITY}${PATH_ABEMPTY}|${PATH_ABSOLUTE}|${PATH_ROOTLESS}|)`;
const QUERY = `(?:${PCHAR}|[/?])*`;
const URI = new RegExp(`^[A-Za-z][A-Za-z0-9+\\-.]*:${HIER_PART}(?:\\?${QUERY})?(?:#${QUERY})?$`);
const IPV_FUTURE = new RegExp(`^[vV][0-9A-Fa-f]+\\.[${UNRESERVED}${SUB_DELIMS}:]+$`);

export function uri(value) {
  const m = URI.exec(value);
  if (m === null) return false;
  const literal = m[1];
  return literal === undefined || (isIPv6(literal) && !literal.includes("%")) || IPV_FUTURE.test(literal);
}

// --- email: RFC 5321 section 4.1.2, Mailbox -------------------------------------------------------------------

// ajv-formats' "email" is a practical pattern that refuses valid Mailboxes: a one-label domain ("ops@localhost"),
// a Quoted-string local part ("\"on call\"@example.com") and address literals ("ops@[192.0.2.1]").
const ATOM = "[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~]+";
const DOT_STRING = `${ATOM}(?:\\.${ATOM})*`;
const QUOTED_STRING = '"(?:[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]|\\\\[\\x20-\\x7e])*"';
const SUB_DOMAIN = "[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?";
const DOMAIN = `${SUB_DOMAIN}(?:\\.${SUB_DOMAIN})*`;
const MAILBOX = new RegExp(`^(?:${DOT_STRING}|${QUOTED_STRING})@(?:(${DOMAIN})|\\[([^\\]]*)\\])$`);

export function email(value) {
  const m = MAILBOX.exec(value);
  if (m === null) return false;
  const literal = m[2];
  if (literal === undefined) return true;
  if (literal.startsWith("IPv6:")) return isIPv6(literal.slice(5)) && !literal.includes("%");
  // A General-address-literal needs a tag registered with IANA, and none is but "IPv6": refused, as aifabric does.
  return isIPv4(literal);
}

import {APP_URL} from './config.js';

// ApiError is an answer of Perkbridge's error shape
// {"error":{"code","message","field"?}}, with its HTTP status.
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.error && body.error.code;
  }
}

// call sends one request to the customer account door with a fresh session
// token (shopify.sessionToken.get() caches it while it is valid) and
// returns the decoded JSON, or throws an ApiError.
export async function call(path, {method = 'GET', body} = {}) {
  const token = await shopify.sessionToken.get();
  const headers = {Authorization: `Bearer ${token}`};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${APP_URL}/account/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// requestID names one click on Redeem, so a retried request buys one reward.
export function requestID() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

// numericID returns the digits of a GID such as "gid://shopify/Order/42".
export function numericID(gid) {
  const m = /\/(\d+)$/.exec(gid || '');
  return m ? m[1] : '';
}

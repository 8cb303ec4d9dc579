/** White-label settings of a tenant: what its people see instead of "Follow Me". */
import { invalid } from '../../core/errors.js';

export interface Branding {
  /** Product name shown in the Control Center and the member app. */
  productName: string;
  /** Logo: an https URL or a data: URL of an image (at most 64 KiB). */
  logoUrl: string | null;
  /** Colours as #rrggbb. */
  primaryColor: string;
  accentColor: string;
  /** The From of e-mails to the tenant's people, e.g. "Harbour Alerts <alerts@harbour.example>". */
  emailFrom: string | null;
  /** The member app's name and icon (as installed on a phone). */
  appName: string;
  appIconUrl: string | null;
}

export const defaultBranding: Readonly<Branding> = Object.freeze({
  productName: 'Follow Me',
  logoUrl: null,
  primaryColor: '#1f5fbf',
  accentColor: '#e8590c',
  emailFrom: null,
  appName: 'Follow Me',
  appIconUrl: null,
});

const COLOR = /^#[0-9a-fA-F]{6}$/;
const IMAGE = /^(https:\/\/[^\s]+|data:image\/(png|svg\+xml|jpeg|webp);base64,[A-Za-z0-9+/=]+)$/;

/** Merges a partial change into branding, refusing bad values with the field named. */
export function mergeBranding(current: Branding, change: unknown, field = 'branding'): Branding {
  if (change === undefined) return { ...current };
  if (!change || typeof change !== 'object' || Array.isArray(change)) throw invalid(field, 'must be an object');
  const next = { ...current };
  for (const [key, value] of Object.entries(change as Record<string, unknown>)) {
    const f = `${field}.${key}`;
    switch (key) {
      case 'productName':
      case 'appName':
        if (typeof value !== 'string' || value.trim() === '' || value.length > 60) throw invalid(f, 'must be a name of 1 to 60 characters');
        next[key] = value.trim();
        break;
      case 'primaryColor':
      case 'accentColor':
        if (typeof value !== 'string' || !COLOR.test(value)) throw invalid(f, `must be a colour as #rrggbb, got ${JSON.stringify(value)}`);
        next[key] = value.toLowerCase();
        break;
      case 'logoUrl':
      case 'appIconUrl':
        if (value !== null && (typeof value !== 'string' || value.length > 90_000 || !IMAGE.test(value))) throw invalid(f, 'must be an https URL or a base64 data: URL of a PNG, SVG, JPEG or WebP image (at most 64 KiB), or null');
        next[key] = value as string | null;
        break;
      case 'emailFrom':
        if (value !== null && (typeof value !== 'string' || !/^([^<>@]*<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/.test(value.trim()))) throw invalid(f, 'must be an address like "Name <alerts@example.com>", or null');
        next[key] = value === null ? null : (value as string).trim();
        break;
      default:
        throw invalid(f, `is not a branding setting; known: ${Object.keys(defaultBranding).join(', ')}`);
    }
  }
  return next;
}

/** A custom domain: a host name (no scheme, no port), lower case. */
export function parseHost(value: unknown, field = 'host'): string {
  if (typeof value !== 'string') throw invalid(field, 'must be a host name such as track.example.com');
  const host = value.trim().toLowerCase();
  if (host.length > 253 || !/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/.test(host)) throw invalid(field, `must be a host name such as track.example.com (no scheme, no port), got ${JSON.stringify(value)}`);
  return host;
}
